"""Which training examples sharpness is measured on: a seeded, class-stratified random sample."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def stratified(labels: Sequence[int] | np.ndarray, n: int, seed: int) -> np.ndarray:
    """Indices of ``n`` examples drawn without replacement, each class getting its share of ``n``.

    Shares are proportional to the class frequencies in ``labels`` (largest remainder; ties
    broken at random), so a balanced set of K classes gives every class n // K or n // K + 1
    examples. The indices come back in a seeded random order, so that every batch of an
    m-sharpness split mixes the classes.
    """
    labels = np.asarray(labels)
    if n > len(labels):
        raise ValueError(f"cannot sample {n} examples from {len(labels)}")
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    quota = n * counts / len(labels)
    take = np.floor(quota).astype(np.int64)
    left = n - int(take.sum())
    if left:
        order = rng.permutation(len(classes))
        ranked = order[np.argsort(-(quota - take)[order], kind="stable")]
        take[ranked[:left]] += 1
    chosen = [rng.choice(np.flatnonzero(labels == c), k, replace=False) for c, k in zip(classes, take) if k]
    return rng.permutation(np.concatenate(chosen)).astype(np.int64) if chosen else np.zeros(0, np.int64)


def histogram(labels: Sequence[int] | np.ndarray, names: Sequence[str] | None = None, shown: int = 40) -> str:
    """A one-line class histogram: number of classes, range of counts, and ``label: count`` pairs
    (the ``shown`` most frequent when there are more)."""
    values, counts = np.unique(np.asarray(labels), return_counts=True)
    if not len(values):
        return "class histogram: empty"
    order = np.argsort(-counts, kind="stable")[:shown]
    pairs = ", ".join(f"{names[values[i]] if names is not None else values[i]}: {counts[i]}" for i in sorted(order))
    more = f", ... ({len(values) - shown} more classes)" if len(values) > shown else ""
    return f"class histogram: {len(values)} classes, {counts.min()}-{counts.max()} examples per class; {pairs}{more}"
