"""Train one zoo model: SGD with momentum or AdamW, a one-cycle learning rate, optional SAM and augmentation."""

import contextlib
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from sharpgen.data.augment import augment_batch
from sharpgen.networks.architectures import build_model

WARMUP_FRACTION = 0.2
FEED_WORKERS_ENV = "SHARPGEN_FEED_WORKERS"
FEED_WORKERS_CUDA = 4
"""DataLoader workers that augment batches for a training job on a GPU (per-image RandAugment
on the CPU would otherwise stall the GPU for most of an epoch)."""


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
    workers: int | None = None,
) -> tuple[nn.Module, list[dict]]:
    """The training loop of :func:`train` for a built ``model`` (on ``device``): ``augment`` maps a
    batch and a generator to augmented inputs, ``schedule(step, total_steps, cfg.lr)`` gives each
    step's learning rate, ``amp`` enables bfloat16 autocast on CUDA.

    ``workers`` None: batches are drawn and augmented in the loop from one generator seeded with
    ``cfg.seed`` (bitwise reproducible on CPU). ``workers`` k >= 0: the fed loop, in which a
    DataLoader's k worker processes (persistent, pinned memory on CUDA) produce augmented batches
    while the model computes; each epoch's order and each batch's augmentation come from
    generators seeded with (``cfg.seed``, epoch, step) (``fed_batch``), so the result does not
    depend on k. Either way the losses stay on the device and are checked for NaN/inf once per
    epoch (the error names the first bad step)."""
    n = x.shape[0]
    steps_per_epoch = n // cfg.batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"batch_size {cfg.batch_size} exceeds the {n} training examples")
    amp = amp and device.type == "cuda"
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = _optimizer(cfg, params)
    total_steps = cfg.epochs * steps_per_epoch
    if workers is None:
        batches = _in_loop_batches(x.to(device), y.to(device), cfg, steps_per_epoch, augment)
    else:
        batches = _fed_batches(x, y, cfg, steps_per_epoch, augment, workers, device)
    history: list[dict] = []
    model.train()
    for epoch in range(1, cfg.epochs + 1):
        start = time.perf_counter()
        losses = torch.empty(steps_per_epoch, device=device)
        errors = torch.empty(steps_per_epoch, device=device)
        lr = cfg.lr
        for step in range(steps_per_epoch):
            xb, yb = next(batches)
            lr = schedule((epoch - 1) * steps_per_epoch + step, total_steps, cfg.lr)
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss, out = _loss_and_grads(model, params, xb, yb, amp)
            if cfg.sam_rho > 0:
                perturbation = _sam_perturbation(params, cfg.sam_rho)
                with torch.no_grad():
                    torch._foreach_add_(params, perturbation)
                _loss_and_grads(model, params, xb, yb, amp)
                with torch.no_grad():
                    torch._foreach_sub_(params, perturbation)
            optimizer.step()
            losses[step] = loss
            errors[step] = (out.argmax(dim=1) != yb).float().mean()
        values = losses.double().cpu()  # the epoch's one sync
        bad = (~torch.isfinite(values)).nonzero()
        if len(bad):
            step = int(bad[0])
            raise FloatingPointError(
                f"training loss became {float(values[step])} at epoch {epoch}, step {step + 1} "
                f"(arch={cfg.arch}, lr={cfg.lr}, batch_size={cfg.batch_size})"
            )
        record = {
            "epoch": epoch,
            "lr": lr,
            "train_loss": float(values.sum()) / steps_per_epoch,
            "train_error": float(errors.double().sum()) / steps_per_epoch,
            "seconds": time.perf_counter() - start,
        }
        history.append(record)
        if on_epoch is not None:
            on_epoch(record)
    return model.eval(), history


def _in_loop_batches(
    x: Tensor, y: Tensor, cfg: TrainConfig, steps_per_epoch: int, augment: Callable[[Tensor, torch.Generator], Tensor] | None
) -> Iterator[tuple[Tensor, Tensor]]:
    """Batches drawn and augmented in the training loop, from one generator seeded with cfg.seed."""
    generator = torch.Generator().manual_seed(cfg.seed)
    for _ in range(cfg.epochs):
        order = torch.randperm(x.shape[0], generator=generator).to(x.device)
        for step in range(steps_per_epoch):
            index = order[step * cfg.batch_size : (step + 1) * cfg.batch_size]
            xb, yb = x[index], y[index]
            yield (augment(xb, generator) if augment is not None else xb), yb


def fed_seed(seed: int, epoch: int, step: int = -1) -> int:
    """Seed of epoch ``epoch``'s order (step -1) or of one batch's augmentation in the fed loop."""
    return (seed * 1_000_003 + epoch * 10_007 + (step + 1) * 7_919 + 54_321) % (2**63 - 1)


class FedBatches(torch.utils.data.Dataset):
    """Item g = the augmented batch of global step g (epoch g // steps, step g % steps): the same
    batch whichever process computes it and in whatever order (seeds from ``fed_seed``)."""

    def __init__(self, x: Tensor, y: Tensor, seed: int, batch_size: int, steps_per_epoch: int, epochs: int,
                 augment: Callable[[Tensor, torch.Generator], Tensor] | None) -> None:
        self.x, self.y, self.seed, self.batch_size = x, y, seed, batch_size
        self.steps, self.epochs, self.augment = steps_per_epoch, epochs, augment
        self._order: tuple[int, Tensor] | None = None

    def __len__(self) -> int:
        return self.steps * self.epochs

    def __getitem__(self, g: int) -> tuple[Tensor, Tensor]:
        epoch, step = divmod(g, self.steps)
        if self._order is None or self._order[0] != epoch:
            generator = torch.Generator().manual_seed(fed_seed(self.seed, epoch))
            self._order = (epoch, torch.randperm(len(self.y), generator=generator))
        index = self._order[1][step * self.batch_size : (step + 1) * self.batch_size]
        xb, yb = self.x[index], self.y[index]
        if self.augment is not None:
            batch_seed = fed_seed(self.seed, epoch, step)
            with torch.random.fork_rng(devices=[]):  # ops that use the global RNG (torchvision) get it seeded too
                torch.manual_seed(batch_seed)
                xb = self.augment(xb, torch.Generator().manual_seed(batch_seed))
        return xb, yb


def _fed_batches(
    x: Tensor, y: Tensor, cfg: TrainConfig, steps_per_epoch: int, augment: Callable[[Tensor, torch.Generator], Tensor] | None,
    workers: int, device: torch.device,
) -> Iterator[tuple[Tensor, Tensor]]:
    """The fed loop's batches on ``device``, produced by ``workers`` DataLoader processes."""
    dataset = FedBatches(x.cpu(), y.cpu(), cfg.seed, cfg.batch_size, steps_per_epoch, cfg.epochs, augment)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=None, shuffle=False, num_workers=workers, pin_memory=device.type == "cuda",
        persistent_workers=workers > 0, prefetch_factor=4 if workers > 0 else None,
        worker_init_fn=_one_thread if workers > 0 else None,
    )
    for xb, yb in loader:
        yield xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)


def feed_workers(device: torch.device) -> int | None:
    """Workers of an augmenting training job: ``SHARPGEN_FEED_WORKERS`` when set (0: the fed loop
    in the job's own process), else ``FEED_WORKERS_CUDA`` on CUDA and None (the in-loop batches)
    on CPU, where the job's cores already compute the model."""
    value = os.environ.get(FEED_WORKERS_ENV)
    if value is not None:
        if not value.isdigit():
            raise ValueError(f"environment variable {FEED_WORKERS_ENV} must be an integer >= 0, got {value!r}")
        return int(value)
    return FEED_WORKERS_CUDA if device.type == "cuda" else None


def _one_thread(_: int) -> None:
    """Workers augment one batch each on one thread (the job's threads are the model's)."""
    torch.set_num_threads(1)
