"""The scikit-learn 8x8 digits dataset as a deterministic stratified split."""

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from sklearn.datasets import load_digits
from torch import Tensor


@dataclass(frozen=True)
class Split:
    """Train/test tensors: x float32 (N, 1, 8, 8) in [0, 1], y int64 (N,)."""

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor


def split_indices(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified split: per class, a seeded shuffle sends round(fraction * count) to test.

    Returns sorted (train, test) index arrays.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    rng = np.random.Generator(np.random.PCG64(seed))
    train, test = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_test = int(round(test_fraction * len(members)))
        test.append(members[:n_test])
        train.append(members[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def load_digits_split(test_fraction: float = 0.3, seed: int = 0) -> Split:
    """Load the bundled digits (1797 images) and split them deterministically."""
    digits = load_digits()
    x = torch.from_numpy(digits.images.astype(np.float32) / 16.0).unsqueeze(1)
    y = torch.from_numpy(digits.target.astype(np.int64))
    train, test = split_indices(digits.target, test_fraction, seed)
    train_t, test_t = torch.from_numpy(train), torch.from_numpy(test)
    return Split(x[train_t], y[train_t], x[test_t], y[test_t])


def digits_splits(test_fraction: float, split_seed: int, shift_severity: int, shift_seed: int) -> tuple[dict[str, tuple[Tensor, Tensor]], pd.DataFrame]:
    """Train, test and every corrupted test set of the digits setting, plus the split's indices."""
    from sharpgen.data.shifts import shift_sets
    from sharpgen.settings.base import SHIFT_PREFIX

    split = load_digits_split(test_fraction=test_fraction, seed=split_seed)
    splits = {"train": (split.x_train, split.y_train), "test": (split.x_test, split.y_test)}
    for name, pair in shift_sets(split.x_test, split.y_test, severity=shift_severity, seed=shift_seed).items():
        splits[f"{SHIFT_PREFIX}{name}"] = pair
    train_idx, test_idx = split_indices(load_digits().target, test_fraction, split_seed)
    index = pd.DataFrame(
        {"index": [*map(int, train_idx), *map(int, test_idx)], "split": ["train"] * len(train_idx) + ["test"] * len(test_idx)}
    ).sort_values("index", ignore_index=True)
    return splits, index
