"""Digits split, distribution shifts and augmentation."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from sharpgen.data.augment import augment_batch
from sharpgen.data.digits import load_digits_split, split_indices
from sharpgen.data.shifts import SHIFTS, corrupt, shift_sets


@pytest.fixture(scope="module")
def split():
    return load_digits_split(test_fraction=0.3, seed=0)


def test_split_sizes_dtypes_and_range(split):
    assert split.x_train.shape[0] + split.x_test.shape[0] == 1797
    assert abs(split.x_test.shape[0] / 1797 - 0.3) < 0.01
    assert split.x_train.shape[1:] == (1, 8, 8) and split.x_test.shape[1:] == (1, 8, 8)
    assert split.x_train.dtype == torch.float32 and split.y_train.dtype == torch.int64
    for x in (split.x_train, split.x_test):
        assert x.min() >= 0.0 and x.max() <= 1.0 and x.max() == 1.0


def test_split_indices_are_disjoint_and_cover_everything():
    labels = load_digits().target
    train, test = split_indices(labels, test_fraction=0.3, seed=0)
    assert np.intersect1d(train, test).size == 0
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(labels.size))


def test_split_rows_come_from_the_matching_indices(split):
    digits = load_digits()
    _, test = split_indices(digits.target, test_fraction=0.3, seed=0)
    assert np.array_equal(split.x_test.squeeze(1).numpy(), (digits.images[test] / 16.0).astype(np.float32))
    assert np.array_equal(split.y_test.numpy(), digits.target[test])


def test_split_is_stratified(split):
    train_counts = np.bincount(split.y_train.numpy(), minlength=10)
    test_counts = np.bincount(split.y_test.numpy(), minlength=10)
    fractions = test_counts / (train_counts + test_counts)
    assert np.all(np.abs(fractions - 0.3) < 0.01)


def test_split_is_deterministic_and_seed_dependent(split):
    again = load_digits_split(test_fraction=0.3, seed=0)
    assert torch.equal(split.x_train, again.x_train) and torch.equal(split.y_test, again.y_test)
    other = load_digits_split(test_fraction=0.3, seed=1)
    assert not torch.equal(split.y_test, other.y_test)


@pytest.mark.parametrize("kind", SHIFTS)
def test_shift_changes_images_keeps_shape_range_and_is_deterministic(split, kind):
    x = split.x_test[:200]
    shifted = corrupt(x, kind, severity=3, seed=0)
    assert shifted.shape == x.shape and shifted.dtype == x.dtype
    assert shifted.min() >= 0.0 and shifted.max() <= 1.0
    assert (shifted - x).abs().mean() > 0.02
    assert torch.equal(shifted, corrupt(x, kind, severity=3, seed=0))


@pytest.mark.parametrize("kind", SHIFTS)
def test_shift_severity_is_monotone(split, kind):
    x = split.x_test[:300]
    changes = [(corrupt(x, kind, s, seed=0) - x).abs().mean().item() for s in range(1, 6)]
    assert all(a < b for a, b in zip(changes, changes[1:])), changes


def test_corrupt_rejects_unknown_kind_and_severity(split):
    with pytest.raises(ValueError, match="gaussian_noise"):
        corrupt(split.x_test[:4], "fog", 1, 0)
    with pytest.raises(ValueError, match="severity"):
        corrupt(split.x_test[:4], "blur", 6, 0)


def test_shift_sets_keep_labels_and_mix_every_kind(split):
    x, y = split.x_test, split.y_test
    sets = shift_sets(x, y, severity=2, seed=0)
    assert set(sets) == set(SHIFTS) | {"mixed"}
    for xs, ys in sets.values():
        assert xs.shape == x.shape and torch.equal(ys, y)
    mixed = sets["mixed"][0]
    matches = torch.stack([(mixed == sets[kind][0]).flatten(1).all(dim=1) for kind in SHIFTS])
    assert matches.any(dim=0).all()
    exclusive = matches & (matches.sum(dim=0) == 1)
    counts = exclusive.sum(dim=1)
    assert counts.min() > 0.15 * x.shape[0], counts
    assert torch.equal(mixed, shift_sets(x, y, severity=2, seed=0)["mixed"][0])


def test_augment_is_deterministic_changes_images_and_keeps_shape(split):
    x = split.x_train[:64]
    first = augment_batch(x, torch.Generator().manual_seed(3))
    second = augment_batch(x, torch.Generator().manual_seed(3))
    other = augment_batch(x, torch.Generator().manual_seed(4))
    assert first.shape == x.shape and torch.equal(first, second)
    assert not torch.equal(first, other) and not torch.equal(first, x)
    assert first.min() >= 0.0 and first.max() <= 1.0 + 1e-6
