"""Turn a user-facing device string into a ``torch.device``."""

import re

import torch

_ACCEPTED = "'auto', 'cpu', 'cuda' or 'cuda:<index>'"


def resolve_device(spec: str = "auto") -> torch.device:
    """Map ``spec`` to a device: ``"auto"`` picks CUDA when available, else CPU."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec in ("cpu", "cuda") or re.fullmatch(r"cuda:\d+", spec):
        return torch.device(spec)
    raise ValueError(f"unknown device {spec!r}; expected {_ACCEPTED}")
