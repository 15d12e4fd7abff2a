"""The device a job computes on, decided in one place.

A job uses the GPU it was given (CUDA visible: the scheduler's ``gpu`` resource, set in the
workflow profiles) and the CPU otherwise. ``SHARPGEN_DEVICE`` (cpu, cuda or cuda:N) overrides
that choice for users who want to force it.

Precision (a setting's ``precision`` key, passed to its training, evaluation and sharpness
jobs): ``fp32`` (default) computes matrix products and cuDNN convolutions in full float32;
``tf32`` lets them use TF32 tensor cores (10-bit mantissa) on Ampere and newer GPUs. On CPU
both are plain float32.
"""

import os
import re

import torch

ENV = "SHARPGEN_DEVICE"
PRECISIONS = ("fp32", "tf32")
_ACCEPTED = "'auto', 'cpu', 'cuda' or 'cuda:<index>'"


def resolve_device(spec: str = "auto") -> torch.device:
    """Map ``spec`` to a device: ``"auto"`` picks CUDA when available, else CPU."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec in ("cpu", "cuda") or re.fullmatch(r"cuda:\d+", spec):
        return torch.device(spec)
    raise ValueError(f"unknown device {spec!r}; expected {_ACCEPTED}")


def set_precision(precision: str) -> None:
    """TF32 on (``tf32``) or off (``fp32``) for CUDA matmuls and cuDNN convolutions, process-wide."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {precision!r}")
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = precision == "tf32"


def job_device(threads: int = 1, precision: str = "fp32") -> torch.device:
    """The device of this job (``SHARPGEN_DEVICE`` or auto), with torch limited to ``threads`` CPU
    threads and matmuls / convolutions in ``precision`` (``set_precision``)."""
    torch.set_num_threads(max(1, threads))
    set_precision(precision)
    spec = os.environ.get(ENV, "auto")
    try:
        return resolve_device(spec)
    except ValueError as error:
        raise ValueError(f"environment variable {ENV}: {error}") from None
