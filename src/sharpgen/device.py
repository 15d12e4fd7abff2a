"""The device a job computes on, decided in one place.

A job uses the GPU it was given (CUDA visible: the scheduler's ``gpu`` resource, set in the
workflow profiles) and the CPU otherwise. ``SHARPGEN_DEVICE`` (cpu, cuda or cuda:N) overrides
that choice for users who want to force it.
"""

import os
import re

import torch

ENV = "SHARPGEN_DEVICE"
_ACCEPTED = "'auto', 'cpu', 'cuda' or 'cuda:<index>'"


def resolve_device(spec: str = "auto") -> torch.device:
    """Map ``spec`` to a device: ``"auto"`` picks CUDA when available, else CPU."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec in ("cpu", "cuda") or re.fullmatch(r"cuda:\d+", spec):
        return torch.device(spec)
    raise ValueError(f"unknown device {spec!r}; expected {_ACCEPTED}")


def job_device(threads: int = 1) -> torch.device:
    """The device of this job (``SHARPGEN_DEVICE`` or auto), with torch limited to ``threads`` CPU threads."""
    torch.set_num_threads(max(1, threads))
    spec = os.environ.get(ENV, "auto")
    try:
        return resolve_device(spec)
    except ValueError as error:
        raise ValueError(f"environment variable {ENV}: {error}") from None
