"""Train one zoo model: SGD with momentum or AdamW, a one-cycle learning rate, optional SAM and augmentation."""

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from sharpgen.data.augment import augment_batch
from sharpgen.networks.architectures import build_model

WARMUP_FRACTION = 0.2


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of one training run (``width`` None means the architecture default)."""

    arch: str
    lr: float
    batch_size: int
    augment: bool
    weight_decay: float = 0.0
    sam_rho: float = 0.0
    epochs: int = 30
    momentum: float = 0.9
    seed: int = 0
    width: int | None = None
    optimizer: str = "sgd"


def cyclic_lr(step: int, total_steps: int, peak_lr: float) -> float:
    """One triangular cycle: linear ramp to ``peak_lr`` over the first 20% of steps, then linear decay toward 0."""
    warmup = max(1, math.ceil(WARMUP_FRACTION * total_steps))
    if step < warmup:
        return peak_lr * (step + 1) / warmup
    return peak_lr * (total_steps - step) / (total_steps - warmup + 1)


def triangular_lr(step: int, total_steps: int, peak_lr: float, peak_at: float = 0.4) -> float:
    """The authors' "cyclic" schedule: linear from 0 to ``peak_lr`` at ``peak_at`` of training,
    then linear to 0, evaluated after each step at t = (step + 1) / total_steps."""
    t = (step + 1) / total_steps
    return peak_lr * (t / peak_at if t <= peak_at else (1 - t) / (1 - peak_at))


def _loss_and_grads(model: nn.Module, params: list[Tensor], x: Tensor, y: Tensor, amp: bool = False) -> tuple[Tensor, Tensor]:
    """Forward + backward; returns (loss, logits) detached and leaves gradients in ``.grad``.

    With ``amp`` the forward pass runs under bfloat16 autocast (CUDA only; no loss scaling needed).
    """
    for p in params:
        p.grad = None
    with torch.autocast("cuda", dtype=torch.bfloat16) if amp else contextlib.nullcontext():
        out = model(x)
        loss = F.cross_entropy(out.float(), y)
    loss.backward()
    return loss.detach(), out.detach()


@torch.no_grad()
def _sam_perturbation(params: list[Tensor], rho: float) -> list[Tensor]:
    """SAM's ascent step e = rho * g / ||g||_2 (global l2 norm over all parameters)."""
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    scale = rho / (norm + 1e-12)
    return [g * scale for g in grads]


def _optimizer(cfg: TrainConfig, params: list[Tensor]) -> torch.optim.Optimizer:
    """SGD with momentum (the paper's ResNets) or AdamW (decoupled weight decay; what ViTs need)."""
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}; expected 'sgd' or 'adamw'")


def initial_model(cfg: TrainConfig, num_classes: int) -> nn.Module:
    """The untrained model that :func:`train` starts from (on the CPU): seeded with ``cfg.seed``."""
    torch.manual_seed(cfg.seed)
    return build_model(cfg.arch, num_classes=num_classes, width=cfg.width)


def train(
    cfg: TrainConfig,
    x: Tensor,
    y: Tensor,
    device: torch.device,
    on_epoch: Callable[[dict], None] | None = None,
) -> tuple[nn.Module, list[dict]]:
    """Train a fresh ``cfg.arch`` model on (x, y) and return it (eval mode, on ``device``) with per-epoch history.

    Initialisation uses ``torch.manual_seed(cfg.seed)``; shuffling and augmentation use a separate CPU
    generator seeded with ``cfg.seed``, so a CPU run is bitwise reproducible. The trailing partial batch
    of each epoch is dropped. With ``cfg.sam_rho > 0`` each step is two-step SAM (Foret et al., 2021):
    gradient at w + rho g/||g|| applied at w (BatchNorm statistics are updated by both passes).
    History entries: epoch (1-based), lr (of the epoch's last step), train_loss and train_error
    (averaged over the epoch's batches, on augmented data when enabled), seconds.
    """
    model = initial_model(cfg, num_classes=int(y.max()) + 1).to(device)
    return fit(model, cfg, x, y, device, augment_batch if cfg.augment else None, cyclic_lr, on_epoch)


def fit(
    model: nn.Module,
    cfg: TrainConfig,
    x: Tensor,
    y: Tensor,
    device: torch.device,
    augment: Callable[[Tensor, torch.Generator], Tensor] | None,
    schedule: Callable[[int, int, float], float],
    on_epoch: Callable[[dict], None] | None = None,
    amp: bool = False,
) -> tuple[nn.Module, list[dict]]:
    """The training loop of :func:`train` for a built ``model`` (on ``device``): ``augment`` maps a
    batch and the loop's generator to augmented inputs, ``schedule(step, total_steps, cfg.lr)``
    gives each step's learning rate, ``amp`` enables bfloat16 autocast on CUDA."""
    n = x.shape[0]
    steps_per_epoch = n // cfg.batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"batch_size {cfg.batch_size} exceeds the {n} training examples")
    amp = amp and device.type == "cuda"
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = _optimizer(cfg, params)
    generator = torch.Generator().manual_seed(cfg.seed)
    x, y = x.to(device), y.to(device)
    total_steps = cfg.epochs * steps_per_epoch
    history: list[dict] = []
    model.train()
    for epoch in range(1, cfg.epochs + 1):
        start = time.perf_counter()
        order = torch.randperm(n, generator=generator).to(device)
        loss_sum, error_sum, lr = 0.0, 0.0, cfg.lr
        for step in range(steps_per_epoch):
            index = order[step * cfg.batch_size : (step + 1) * cfg.batch_size]
            xb, yb = x[index], y[index]
            if augment is not None:
                xb = augment(xb, generator)
            lr = schedule((epoch - 1) * steps_per_epoch + step, total_steps, cfg.lr)
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss, out = _loss_and_grads(model, params, xb, yb, amp)
            loss_value = loss.item()
            if not math.isfinite(loss_value):
                raise FloatingPointError(
                    f"training loss became {loss_value} at epoch {epoch}, step {step + 1} "
                    f"(arch={cfg.arch}, lr={cfg.lr}, batch_size={cfg.batch_size})"
                )
            if cfg.sam_rho > 0:
                perturbation = _sam_perturbation(params, cfg.sam_rho)
                with torch.no_grad():
                    for p, e in zip(params, perturbation):
                        p.add_(e)
                _loss_and_grads(model, params, xb, yb, amp)
                with torch.no_grad():
                    for p, e in zip(params, perturbation):
                        p.sub_(e)
            optimizer.step()
            loss_sum += loss_value
            error_sum += (out.argmax(dim=1) != yb).float().mean().item()
        record = {
            "epoch": epoch,
            "lr": lr,
            "train_loss": loss_sum / steps_per_epoch,
            "train_error": error_sum / steps_per_epoch,
            "seconds": time.perf_counter() - start,
        }
        history.append(record)
        if on_epoch is not None:
            on_epoch(record)
    return model.eval(), history
