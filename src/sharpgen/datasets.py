"""Materialised data sets: named (inputs, labels) pairs stored once per setting as tensors."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from sharpgen.atomic import save_torch


Splits = dict[str, tuple[Tensor, Tensor]]


def first_n(splits: Splits, n: int, source: str = "train") -> tuple[Tensor, Tensor]:
    """The first n examples of a split, in order: the data of every sharpness job."""
    x, y = splits[source]
    if len(x) < n:
        raise ValueError(f"sharpness.n = {n} but the {source} split has only {len(x)} examples; lower sharpness.n")
    return x[:n].contiguous(), y[:n].contiguous()


def save(splits: Splits, path: str | Path) -> None:
    """Store ``splits`` at ``path`` (identical splits give identical bytes)."""
    save_torch({name: {"x": x, "y": y} for name, (x, y) in splits.items()}, path)


def load(path: str | Path) -> Splits:
    """Every split stored at ``path``; a clear error names a missing or broken file."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: data set missing; rerun the workflow to rebuild it") from None
    except Exception as error:
        raise ValueError(f"{path}: unreadable data set ({type(error).__name__}); delete it and rerun") from None
    return {name: (pair["x"], pair["y"]) for name, pair in payload.items()}
