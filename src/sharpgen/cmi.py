"""The score of the PGDL competition (NeurIPS 2020): conditional mutual information.

Jiang et al. ("Fantastic generalization measures", ICLR 2020; the PGDL scoring program,
``scoring_program/mutual_information.py`` of the competition's starting kit) score a measure
by how much the *sign of its difference* between two models tells about the *sign of their
generalization-gap difference*, once the hyperparameters that differ are known. As the
scoring program computes it:

1. Every ordered pair (i, j) of models, i == j included, gives two bits:
   ``gap_i > gap_j`` and ``measure_i > measure_j`` (strict, so ties and self-pairs read
   "not greater").
2. For every pair of distinct hyperparameters (h1, h2), the pairs are split into slices by
   ``(h1 of i, h1 of j, h2 of i, h2 of j)``; each slice is a 2 x 2 contingency table.
3. Per slice: the mutual information of the two bits (log base 2, empty cells skipped) and the
   entropy of the gap bit (``-sum p log2(p + 1e-12)``).
4. The score for (h1, h2) is mean-over-slices(MI) / mean-over-slices(H(gap)) -- both means
   unweighted, every slice counting once whatever its size.
5. The task score is the minimum over (h1, h2); the organisers report it x100 (the starting
   kit's ``task_average_score`` multiplies the average over tasks by 100, and published
   per-task scores are x100 as well).

Where we must choose, we say so: the gap is ``test_error - train_error`` (= ``train_acc -
test_acc``, the program's ``gen_gap``); models with a nan measure or gap are left out (the
program would compare nan as "not greater"); the slices are the combinations of the values
*observed* (the program takes them from ``possible_values`` and refuses an incomplete grid,
where a slice would be empty and its score nan) and empty slices are skipped. With fewer than
two hyperparameters the program's loop has no pair (its result is ``inf``); we return nan.
The minimum over ordered pairs (h1, h2) equals the minimum over unordered ones (the same
slices, relabelled), so each unordered pair is computed once.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

SCALE = 100.0  # the organisers report CMI x100
ENTROPY_EPS = 1e-12  # inside the logarithm of the gap entropy, as the scoring program


def slice_tables(measure: np.ndarray, gap: np.ndarray, codes: Sequence[np.ndarray], levels: Sequence[int]) -> np.ndarray:
    """Counts ``[slice, gap bit, measure bit]`` over all ordered pairs of models (i == j too).

    ``codes[k]`` holds each model's value index of conditioning hyperparameter k (0 ..
    ``levels[k] - 1``); the slice of pair (i, j) is the mixed-radix number of
    ``(codes[0][i], codes[0][j], codes[1][i], codes[1][j], ...)``. Bit 1 means "greater".
    """
    gap_bit = (gap[:, None] > gap[None, :]).astype(np.int64)
    measure_bit = (measure[:, None] > measure[None, :]).astype(np.int64)
    slice_index = np.zeros_like(gap_bit)
    for code, level in zip(codes, levels, strict=True):
        slice_index = (slice_index * level + code[:, None]) * level + code[None, :]
    n_slices = int(np.prod([level * level for level in levels])) if levels else 1
    flat = (slice_index * 2 + gap_bit) * 2 + measure_bit
    return np.bincount(flat.ravel(), minlength=n_slices * 4).reshape(n_slices, 2, 2).astype(float)


def mutual_information(table: np.ndarray) -> float:
    """Mutual information (bits) of a 2 x 2 contingency table; empty cells contribute 0."""
    joint = table / table.sum()
    outer = joint.sum(1, keepdims=True) * joint.sum(0, keepdims=True)
    used = joint > 0
    return float(np.sum(joint[used] * np.log2(joint[used] / outer[used])))


def gap_entropy(table: np.ndarray) -> float:
    """Entropy (bits) of the gap bit (the table's rows), with the scoring program's 1e-12."""
    p = table.sum(1) / table.sum()
    return float(-np.sum(p * np.log2(p + ENTROPY_EPS)))


def conditioned_score(tables: np.ndarray) -> float:
    """mean MI / mean H(gap) over the non-empty slices of ``[slice, 2, 2]`` tables (nan if none)."""
    used = tables[tables.sum((1, 2)) > 0]
    if not len(used):
        return math.nan
    mi = np.mean([mutual_information(t) for t in used])
    entropy = np.mean([gap_entropy(t) for t in used])
    # a slice whose gap bit is constant has entropy -1.44e-12 (the 1e-12 inside the log), so
    # a task where every slice is so scores 0 / -tiny = -0.0 in the program: we give 0.0
    return float(mi / entropy) + 0.0


def _codes(values: pd.Series) -> tuple[np.ndarray, int]:
    """Index of each value among the sorted distinct values of a hyperparameter column; a
    missing value is a value of its own (the program would key it as the string "None")."""
    codes, uniques = pd.factorize(values, sort=True, use_na_sentinel=False)
    return codes.astype(np.int64), len(uniques)


def pgdl_cmi(measure: npt.ArrayLike, gap: npt.ArrayLike, hyperparameters: pd.DataFrame) -> float:
    """The PGDL score (a fraction; x :data:`SCALE` as reported) of ``measure`` against ``gap``.

    ``hyperparameters`` has one row per model (same order as ``measure`` and ``gap``) and one
    column per hyperparameter of the grid. Models with a nan measure or gap are dropped.
    Returns the minimum over hyperparameter pairs of :func:`conditioned_score`; nan with fewer
    than two hyperparameters or no model.
    """
    xs = np.asarray(measure, dtype=float).ravel()
    gs = np.asarray(gap, dtype=float).ravel()
    if not (xs.size == gs.size == len(hyperparameters)):
        raise ValueError(f"measure, gap and hyperparameters differ in length: {xs.size}, {gs.size}, {len(hyperparameters)}")
    keep = ~(np.isnan(xs) | np.isnan(gs))
    xs, gs, hp = xs[keep], gs[keep], hyperparameters.reset_index(drop=True)[keep]
    if hp.shape[1] < 2 or xs.size == 0:
        return math.nan
    coded = {name: _codes(hp[name]) for name in hp.columns}
    scores = []
    for h1, h2 in itertools.combinations(hp.columns, 2):
        (c1, n1), (c2, n2) = coded[h1], coded[h2]
        scores.append(conditioned_score(slice_tables(xs, gs, [c1, c2], [n1, n2])))
    kept = [s for s in scores if not math.isnan(s)]
    return min(kept) if kept else math.nan
