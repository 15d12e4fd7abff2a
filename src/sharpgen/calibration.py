"""Time one model's passes on a device: the input of the cost model and of the noise path.

For every batch size m: one forward and one forward+backward pass (best of the timed rounds
after a warm-up), their peak memory, and the average case's two ways of evaluating noise
samples, the loop (one forward per sample) and ``torch.func.vmap`` over a chunk of samples,
timed against each other on the same batch (on CUDA; on CPU the loop, :func:`noise_paths`);
the faster is recorded (``batch_samples``, ties go to the loop) and sharpness jobs use it. Used by the workflow's ``calibrate`` job and by
``bench/calibrate_paper.py``.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sharpgen.cost import Calibration

NOISE_SAMPLES = 8
"""Noise samples per timed run of each path (the chunk of the vmap path when it fits)."""
VMAP_MARGIN = 0.95
"""vmap is chosen only when it takes less than this fraction of the loop's time per sample."""
ROUNDS = 3
"""Timed rounds per measurement; the first warms up and is dropped."""

Log = Callable[[str], None]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn: Callable[[], object], device: torch.device) -> float:
    _sync(device)
    t0 = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - t0


def noise_paths(
    model: nn.Module, x: Tensor, y: Tensor, device: torch.device, samples: int = NOISE_SAMPLES, precision: str = "fp32",
) -> dict[int, float]:
    """Seconds per noise sample of the average case on one batch (x, y), by ``batch_samples``:
    1 (the loop) and, on CUDA when the model can be batched, the vmap chunk that fits
    (``vmap_chunk``). Interleaved rounds, best of the timed ones; the clean forward is in both and
    cancels. On CPU only the loop: vmap sums the same draws in another order, which moves a
    sharpness value (a small difference of two losses) by up to a few 1e-5 relative, so a choice
    by timing, which flips between runs where both paths are close, would make two runs of one
    study differ; and vmap is the slower path on CPU for the paper's models (docs/engine.md)."""
    from sharpgen.sharpness import Definition, compute_sharpness
    from sharpgen.sharpness.average import vmap_chunk

    n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    itemsize = next(model.parameters()).element_size()
    chunk = vmap_chunk(n_params, itemsize, samples, device, activation_bytes=activation_bytes(model, x, device))
    definition = Definition("average", "l2", rho=0.01, m=len(y), n_samples=samples)
    paths = [1] + ([chunk] if chunk > 1 and device.type == "cuda" else [])
    times: dict[int, list[float]] = {k: [] for k in paths}
    for _ in range(ROUNDS):
        for k in list(times):
            try:
                times[k].append(_timed(lambda k=k: compute_sharpness(model, [(x, y)], definition, device=device, batch_samples=k, precision=precision), device))
            except Exception:  # noqa: BLE001 - a model vmap cannot batch (or that does not fit) runs in the loop
                if k == 1:
                    raise
                del times[k]
    return {k: min(v[1:]) / samples for k, v in times.items()}


def activation_bytes(model: nn.Module, x: Tensor, device: torch.device) -> int | None:
    """Peak memory of one no-grad forward beyond what is allocated (CUDA), else None."""
    if device.type != "cuda":
        return None
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    with torch.no_grad():
        model(x)
    return torch.cuda.max_memory_allocated(device) - base


def choose_path(per_sample: dict[int, float]) -> int:
    """The measured faster path: vmap's chunk only if clearly faster than the loop."""
    best = min(per_sample, key=per_sample.get)
    return best if per_sample[best] < VMAP_MARGIN * per_sample[1] else 1


def calibrate_model(
    model: nn.Module, batch: Callable[[int], tuple[Tensor, Tensor]], ms: Sequence[int], device: torch.device,
    load_seconds: float, log: Log = print, noise: bool = True, precision: str = "fp32",
) -> Calibration:
    """Passes, peak memory and the noise path of ``model`` (on ``device``) at each m; ``batch(m)``
    gives m inputs and labels. The passes run under the process's TF32 flags (``set_precision``),
    the noise paths under ``precision``."""
    model.eval()
    forward, backward, peak, chosen, per_sample = {}, {}, {}, {}, {}
    for m in sorted(set(ms)):
        x, y = (t.to(device) for t in batch(m))
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        f, fb = [], []
        for _ in range(ROUNDS):
            with torch.no_grad():
                f.append(_timed(lambda: model(x), device))
            fb.append(_timed(lambda: F.cross_entropy(model(x), y).backward(), device))
        model.zero_grad(set_to_none=True)
        forward[m], backward[m] = min(f[1:]), min(fb[1:])
        peak[m] = (torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda"
                   else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - rss)
        line = f"m={m}: forward {forward[m]:.4f} s, forward+backward {backward[m]:.4f} s, peak {peak[m]:.0f} MB"
        if noise:
            paths = noise_paths(model, x, y, device, precision=precision)
            chosen[m] = choose_path(paths)
            per_sample[m] = paths[chosen[m]]
            line += "; per noise sample " + ", ".join(
                f"{'loop' if k == 1 else f'vmap {k}'} {s:.4f} s" for k, s in paths.items()
            ) + f" -> {'loop' if chosen[m] == 1 else f'vmap {chosen[m]}'}"
        log(f"{line} on {device}")
    return Calibration(str(device), load_seconds, forward, backward, peak, chosen, per_sample)
