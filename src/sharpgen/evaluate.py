"""Batched evaluation of a model: logits, mean cross-entropy and error rate."""

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
