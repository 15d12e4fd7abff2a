"""Batched evaluation of a model: logits, mean cross-entropy and error rate."""

import math
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from sharpgen.datasets import Head


def logits(model: nn.Module, x: Tensor, device: torch.device, batch_size: int = 512) -> Tensor:
    """Eval-mode logits of ``model`` on ``x`` (on ``device``), restoring the model's training flag."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            return torch.cat([model(x[i : i + batch_size].to(device)) for i in range(0, x.shape[0], batch_size)])
    finally:
        model.train(was_training)


def loss_and_error(
    model: nn.Module, x: Tensor, y: Tensor, device: torch.device, batch_size: int = 512, head: Head | None = None
) -> tuple[float, float]:
    """Mean cross-entropy and fraction of examples misclassified by argmax (through ``head``
    when the split's classes are not the model's)."""
    out = logits(model, x, device, batch_size)
    y = y.to(out.device)
    if head is None:
        return F.cross_entropy(out, y).item(), (out.argmax(dim=1) != y).float().mean().item()
    return F.cross_entropy(head.project(out), y).item(), (head.predict(out) != y).float().mean().item()


def require_finite(model: nn.Module, model_id: str, path: str | Path) -> None:
    """Raise a ValueError naming the model and file when any weight or buffer is NaN or infinite."""
    tensors = {**dict(model.named_parameters()), **dict(model.named_buffers())}
    bad = [name for name, t in tensors.items() if t.is_floating_point() and not torch.isfinite(t).all()]
    if bad:
        raise ValueError(
            f"model {model_id} ({path}): non-finite weights in {len(bad)} tensor(s), first {bad[0]!r}; "
            f"the checkpoint is broken: delete {path} and rerun the workflow to rebuild it"
        )


def finite_loss(loss: float, error: float, model_id: str, split: str, path: str | Path) -> tuple[float, float]:
    """``(loss, error)``, or a ValueError naming the model when the loss is NaN or infinite."""
    if not math.isfinite(loss):
        raise ValueError(
            f"model {model_id} ({path}): loss on split {split} is {loss}; the model or its data is broken: "
            f"delete {path} and rerun the workflow to rebuild it"
        )
    return loss, error
