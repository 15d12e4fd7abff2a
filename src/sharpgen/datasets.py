"""Materialised data sets: named (inputs, labels) pairs stored once per setting as tensors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
from torch import Tensor

from sharpgen.atomic import atomic_path

Splits = dict[str, tuple[Tensor, Tensor]]
SHIFT_PREFIX = "shift:"


def digits_splits(test_fraction: float, split_seed: int, shift_severity: int, shift_seed: int) -> tuple[Splits, pd.DataFrame]:
    """Train, test and every corrupted test set of the digits setting, plus the split's indices."""
    from sklearn.datasets import load_digits

    from sharpgen.data.digits import load_digits_split, split_indices
    from sharpgen.data.shifts import shift_sets

    split = load_digits_split(test_fraction=test_fraction, seed=split_seed)
    splits: Splits = {"train": (split.x_train, split.y_train), "test": (split.x_test, split.y_test)}
    for name, pair in shift_sets(split.x_test, split.y_test, severity=shift_severity, seed=shift_seed).items():
        splits[f"{SHIFT_PREFIX}{name}"] = pair
    train_idx, test_idx = split_indices(load_digits().target, test_fraction, split_seed)
    index = pd.DataFrame(
        {"index": [*map(int, train_idx), *map(int, test_idx)], "split": ["train"] * len(train_idx) + ["test"] * len(test_idx)}
    ).sort_values("index", ignore_index=True)
    return splits, index


def first_n(splits: Splits, n: int, source: str = "train") -> tuple[Tensor, Tensor]:
    """The first n examples of a split, in order: the data of every sharpness job."""
    x, y = splits[source]
    if len(x) < n:
        raise ValueError(f"sharpness.n = {n} but the {source} split has only {len(x)} examples; lower sharpness.n")
    return x[:n].contiguous(), y[:n].contiguous()


def save(splits: Splits, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        torch.save({name: {"x": x, "y": y} for name, (x, y) in splits.items()}, tmp)


def load(path: str | Path) -> Splits:
    """Every split stored at ``path``; a clear error names a missing or broken file."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: data set missing; run the workflow's prepare_data rule") from None
    except Exception as error:
        raise ValueError(f"{path}: unreadable data set ({type(error).__name__}); delete it and rerun") from None
    return {name: (pair["x"], pair["y"]) for name, pair in payload.items()}
