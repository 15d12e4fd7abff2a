"""compute_sharpness: a model, fixed batches and a definition in; a SharpnessResult out."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from typing import Iterator

import torch
from torch import Tensor, nn

from sharpgen.device import resolve_device
from sharpgen.sharpness.average import BatchSamples, average_case, validate_batch_samples
from sharpgen.sharpness.definition import Definition
from sharpgen.sharpness.flat import FlatParams
from sharpgen.sharpness.losses import LossFn, cross_entropy, zero_one
from sharpgen.sharpness.objective import BatchObjective
from sharpgen.sharpness.result import BatchResult, SharpnessResult
from sharpgen.sharpness.worst import worst_case

Batch = tuple[Tensor, Tensor]
OnBatch = Callable[[BatchResult, int], None]
"""Called after each batch with its result and the number of batches (for progress logs)."""


def split_batches(inputs: Tensor, labels: Tensor, m: int) -> list[Batch]:
    """The n examples in order, as n/m fixed disjoint batches of m (no shuffling)."""
    n = len(inputs)
    if len(labels) != n:
        raise ValueError(f"sharpness: {n} inputs but {len(labels)} labels")
    if m < 1 or n % m:
        raise ValueError(f"sharpness: n = {n} examples cannot be split into batches of m = {m}; choose m dividing n")
    return [(inputs[i : i + m], labels[i : i + m]) for i in range(0, n, m)]


def batch_seed(seed: int, index: int) -> int:
    """Independent, reproducible noise stream per (seed, batch)."""
    return (seed * 1_000_003 + index * 7_919 + 12_345) % (2**63 - 1)


def compute_sharpness(
    model: nn.Module,
    batches: Iterable[Batch],
    definition: Definition,
    *,
    device: str | torch.device = "auto",
    loss_fn: LossFn = cross_entropy,
    error_fn: LossFn = zero_one,
    on_batch: OnBatch | None = None,
    batch_samples: BatchSamples = "auto",
    precision: str = "fp32",
) -> SharpnessResult:
    """Sharpness of ``model`` on ``batches`` (each one batch of m-sharpness) under ``definition``.

    The model is evaluated in eval mode through ``torch.func.functional_call`` with perturbed
    copies of its trainable parameters; its parameters, buffers, training flags and device are
    exactly what they were before when this returns or raises. ``loss_fn`` and ``error_fn`` map
    (outputs, labels) to per-example values; the batch loss is their mean.

    ``batch_samples`` (average case only; an engine option, not part of the definition):
    evaluate that many noise samples at a time through ``torch.func.vmap`` (1 = one forward per
    sample). ``"auto"``: the loop (a sharpness job passes the path its calibration measured faster).
    The noise is drawn in the same order from the same generator either way, so the values
    agree to float rounding and the same seed gives the same draws.

    ``precision``: ``"fp32"`` (default) turns TF32 off for matmuls and cuDNN while this runs;
    ``"tf32"`` turns it on (faster on Ampere and newer GPUs, at a 10-bit mantissa per product;
    see docs/engine.md). The previous flags are restored afterwards.
    """
    if precision not in ("fp32", "tf32"):
        raise ValueError(f"sharpness: precision must be 'fp32' or 'tf32', got {precision!r}")
    validate_batch_samples(batch_samples)
    dev = resolve_device(device) if isinstance(device, str) else device
    batch_list: Sequence[Batch] = list(batches)
    if not batch_list:
        raise ValueError("sharpness: no batches given")
    start = time.perf_counter()
    results: list[BatchResult] = []
    with _evaluating_on(model, dev, allow_tf32=precision == "tf32"):
        flat = FlatParams.of(model)
        w0 = flat.w0
        c = w0.abs() if definition.adaptive else None
        for index, (inputs, labels) in enumerate(batch_list):
            t0 = time.perf_counter()
            objective = BatchObjective(
                model=model,
                flat=flat,
                inputs=inputs.to(dev),
                labels=labels.to(dev),
                loss_fn=loss_fn,
                error_fn=error_fn,
                logit_norm=definition.logit_norm,
                where=f"definition {definition.id}, batch {index}",
            )
            generator = torch.Generator(device=dev).manual_seed(batch_seed(definition.seed, index))
            if definition.algorithm == "average":
                values = average_case(objective, w0, c, definition, generator, batch_samples)
            else:
                values = worst_case(objective, w0, c, definition, generator)
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            result = BatchResult(
                index=index,
                size=len(labels),
                forward_passes=objective.forwards,
                backward_passes=objective.backwards,
                seconds=time.perf_counter() - t0,
                **values,
            )
            results.append(result)
            if on_batch is not None:
                on_batch(result, len(batch_list))
    return SharpnessResult(
        definition=definition,
        batches=tuple(results),
        device=str(dev),
        seconds=time.perf_counter() - start,
        n_params=flat.numel,
    )


@contextmanager
def _evaluating_on(model: nn.Module, device: torch.device, allow_tf32: bool = False) -> Iterator[None]:
    """Eval mode on ``device``, TF32 off (unless ``allow_tf32``), for the duration; all of it restored after.

    TF32 keeps 10 mantissa bits (relative error ~1e-3 per product), which would swamp loss
    differences of order 1e-4; cuDNN enables it for convolutions by default.
    """
    flags = [(module, module.training) for module in model.modules()]
    tensors = [*model.parameters(), *model.buffers()]
    home = tensors[0].device if tensors else device
    moved = home != device
    tf32 = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    try:
        model.eval()
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = allow_tf32
        if moved:
            model.to(device)
        yield
    finally:
        if moved:
            model.to(home)
        for module, flag in flags:
            module.training = flag
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
