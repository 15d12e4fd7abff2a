"""Rank correlation between sharpness measures and generalization targets.

Andriushchenko et al. (ICML 2023) report Kendall's tau between a sharpness
measure and the test (or OOD) error over all models of a setting, without
saying which variant. Errors are discrete, so ties occur and the variants
differ:

* tau-b (``scipy.stats.kendalltau``'s default) corrects for ties;
* tau-a, ``2 / (M (M - 1)) * sum_{i<j} sign(x_i - x_j) sign(y_i - y_j)``
  (the formula on the paper's slides), does not.

We report both; **tau-b is the headline number** (tables and figure titles),
tau-a is reported alongside it. The p-value is scipy's test for tau-b.

Uncertainty (:func:`tau_statistics`): a bootstrap confidence interval over models
(``scipy.stats.bootstrap``, models resampled with replacement as (measure, target)
pairs, percentile interval) and a two-sided permutation p-value
(``scipy.stats.permutation_test``, the target shuffled against the measure), both
for tau-b, both seeded. A resample in which the measure or the target is constant
has no tau-b; the interval is nan when any resample has none (too few models).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

TABLE_COLUMNS = ("measure", "target", "subgroup", "n_models", "tau_b", "tau_a", "p_value", "ci_low", "ci_high", "p_perm")


def _paired(x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Return ``x`` and ``y`` as float arrays with every pair holding a nan dropped."""
    xs = np.asarray(x, dtype=float).ravel()
    ys = np.asarray(y, dtype=float).ravel()
    if xs.shape != ys.shape:
        raise ValueError(f"x and y differ in length: {xs.size} != {ys.size}")
    keep = ~(np.isnan(xs) | np.isnan(ys))
    return xs[keep], ys[keep]


def _is_constant(values: np.ndarray) -> bool:
    """Whether all entries of a non-empty array are equal."""
    return bool(np.all(values == values[0]))


def _tau_b_and_a(xs: np.ndarray, ys: np.ndarray) -> tuple[float, float]:
    """Tau-b (nan for a constant vector or fewer than 2 values) and tau-a of small samples,
    from one sign matrix each (the granulated coefficient computes thousands of tiny groups)."""
    m = xs.size
    if m < 2:
        return math.nan, math.nan
    sx, sy = _signs(xs), _signs(ys)
    net = int((sx * sy).sum(dtype=np.int64))  # ordered pairs: twice the sum over i < j
    nx, ny = np.count_nonzero(sx), np.count_nonzero(sy)
    tau_b = net / math.sqrt(nx * ny) if nx and ny else math.nan
    return tau_b, net / (m * (m - 1))


def kendall_tau_a(x: npt.ArrayLike, y: npt.ArrayLike) -> float:
    """Exact Kendall tau-a: mean of ``sign(x_i - x_j) sign(y_i - y_j)`` over pairs.

    Tied pairs contribute 0, so a constant vector gives 0.0. Fewer than two
    values give nan; nan inputs propagate (use :func:`kendall` to drop them).
    O(M^2) time, O(M) memory, integer accumulation (exact); comparisons, not differences, so
    that infinite values (e.g. 1/margin of a model with a negative margin) tie with each other.
    """
    xs = np.asarray(x, dtype=float).ravel()
    ys = np.asarray(y, dtype=float).ravel()
    if xs.shape != ys.shape:
        raise ValueError(f"x and y differ in length: {xs.size} != {ys.size}")
    m = xs.size
    if m < 2:
        return math.nan
    if np.isnan(xs).any() or np.isnan(ys).any():
        return math.nan
    net = 0
    for i in range(m - 1):
        sx = (xs[i + 1 :] > xs[i]).astype(np.int64) - (xs[i + 1 :] < xs[i])
        sy = (ys[i + 1 :] > ys[i]).astype(np.int64) - (ys[i + 1 :] < ys[i])
        net += int(np.sum(sx * sy))
    return 2.0 * net / (m * (m - 1))


def kendall(x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[float, float, float]:
    """Return ``(tau_b, tau_a, p_value)`` between ``x`` and ``y``.

    Pairs where either value is nan are dropped. With fewer than 3 remaining
    pairs, or a constant ``x`` or ``y``, returns ``(nan, nan, nan)`` without
    warnings. ``tau_b`` and ``p_value`` come from ``scipy.stats.kendalltau``
    with ``variant="b"``.
    """
    xs, ys = _paired(x, y)
    if xs.size < 3 or _is_constant(xs) or _is_constant(ys):
        return math.nan, math.nan, math.nan
    result = stats.kendalltau(xs, ys, variant="b")
    return float(result.statistic), kendall_tau_a(xs, ys), float(result.pvalue)


def _signs(values: np.ndarray) -> np.ndarray:
    """``sign(v_i - v_j)`` as int8, flattened over (i, j): shape ``(..., M * M)``."""
    a, b = values[..., :, None], values[..., None, :]
    signs = (a > b).view(np.int8) - (a < b).view(np.int8)
    return signs.reshape(*signs.shape[:-2], -1)


def tau_b_vectorized(x: npt.ArrayLike, y: npt.ArrayLike, axis: int = -1) -> np.ndarray:
    """Tau-b along ``axis`` for stacks of samples (the form scipy's resampling tests call).

    Exact tau-b as sum_ij s^x_ij s^y_ij / sqrt(#{s^x_ij != 0} #{s^y_ij != 0}) with
    ``s_ij = sign(v_i - v_j)`` over ordered pairs, i.e. (concordant - discordant) /
    sqrt((n0 - n1)(n0 - n2)); nan where a sample is constant. Integer arithmetic on int8
    signs; memory O(resamples x M^2), fine for M up to a few hundred models.
    """
    sx = _signs(np.moveaxis(np.asarray(x, dtype=float), axis, -1))
    sy = _signs(np.moveaxis(np.asarray(y, dtype=float), axis, -1))
    num = (sx * sy).sum(-1, dtype=np.int64)
    den = np.sqrt(np.count_nonzero(sx, axis=-1) * np.count_nonzero(sy, axis=-1).astype(float))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def tau_statistics(
    x: npt.ArrayLike, y: npt.ArrayLike, resamples: int = 999, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """``(ci_low, ci_high, p_perm)`` of tau-b between ``x`` and ``y`` (nan pairs dropped).

    The interval is scipy's percentile bootstrap over models (paired resampling,
    ``resamples`` draws, level ``confidence``); the p-value is scipy's two-sided permutation
    test of pairings (``resamples`` permutations, exact when fewer exist). Both use
    ``numpy.random.default_rng(seed)``, so the same data give the same numbers. With fewer
    than 3 pairs or a constant vector everything is nan; the interval alone is nan when a
    bootstrap resample is constant in ``x`` or ``y`` (typical below ~8 models).
    """
    xs, ys = _paired(x, y)
    if xs.size < 3 or _is_constant(xs) or _is_constant(ys):
        return math.nan, math.nan, math.nan
    with warnings.catch_warnings():
        # a constant resample makes tau-b nan and scipy warns that the interval is nan
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        boot = stats.bootstrap(
            (xs, ys), tau_b_vectorized, paired=True, vectorized=True, n_resamples=resamples,
            confidence_level=confidence, method="percentile", rng=np.random.default_rng(seed),
        )
    perm = stats.permutation_test(
        (xs, ys), tau_b_vectorized, permutation_type="pairings", vectorized=True, n_resamples=resamples,
        alternative="two-sided", rng=np.random.default_rng(seed),
    )
    low, high = float(boot.confidence_interval.low), float(boot.confidence_interval.high)
    return low, high, float(perm.pvalue)


def _require(frame: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    """Raise ``ValueError`` if ``frame`` lacks any of ``columns``."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks columns {missing}")


def group_columns(group_by: Sequence[str]) -> list[str]:
    """The model columns that ``group_by`` entries (``col`` or ``col1+col2``) name, in order."""
    return list(dict.fromkeys(c for entry in group_by for c in entry.split("+")))


def _subgroups(groups: pd.DataFrame, group_by: Sequence[str]) -> list[tuple[str, pd.Series | None]]:
    """``("all", None)`` then ``("<col>=<value>", model_ids)`` per entry and sorted value; an
    entry ``col1+col2`` gives ``"<col1>=<v1>,<col2>=<v2>"`` per combination present."""
    subsets: list[tuple[str, pd.Series | None]] = [("all", None)]
    for entry in group_by:
        columns = entry.split("+")
        for values, rows in sorted(groups.dropna(subset=columns).groupby(columns, sort=True)["model_id"], key=lambda kv: kv[0]):
            values = values if isinstance(values, tuple) else (values,)
            subsets.append((",".join(f"{c}={v}" for c, v in zip(columns, values)), rows))
    return subsets


def kendall_table(
    measures: pd.DataFrame,
    targets: pd.DataFrame,
    groups: pd.DataFrame,
    group_by: Sequence[str],
    resamples: int = 0,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Kendall's tau for every (measure, target, subgroup).

    ``measures`` is long ``[model_id, measure, value]``, ``targets`` is long
    ``[model_id, target, value]`` and ``groups`` is ``[model_id, *group_by]``,
    each with at most one row per model (per measure / target). Each
    (measure, target) pair is an inner join on ``model_id``. Subgroups are
    ``"all"`` and ``"<col>=<value>"`` for every value of every ``group_by``
    column found in ``groups``, so every (measure, target) has the same
    subgroups (an empty one has ``n_models == 0`` and nan taus).

    ``n_models`` counts the models with both values non-nan, i.e. those used.
    Rows are sorted by measure, then target, then subgroup (``"all"`` first,
    then ``group_by`` order, then sorted value).

    With ``resamples > 0`` every row also gets :func:`tau_statistics` (``ci_low``,
    ``ci_high``, ``p_perm``) with that many resamples, ``confidence`` and ``seed``;
    otherwise those columns are nan.
    """
    group_by = list(group_by)
    _require(measures, ["model_id", "measure", "value"], "measures")
    _require(targets, ["model_id", "target", "value"], "targets")
    _require(groups, ["model_id", *group_columns(group_by)], "groups")
    if groups["model_id"].duplicated().any():
        raise ValueError("groups has more than one row for some model_id")
    subsets = _subgroups(groups, group_by)
    rows = []
    for measure_id, by_measure in measures.groupby("measure", sort=True):
        for target_id, by_target in targets.groupby("target", sort=True):
            joined = by_measure[["model_id", "value"]].merge(
                by_target[["model_id", "value"]],
                on="model_id",
                how="inner",
                suffixes=("_measure", "_target"),
                validate="one_to_one",
            ).sort_values("model_id", kind="stable")  # resampling depends on the order: fix it
            for label, model_ids in subsets:
                part = joined if model_ids is None else joined[joined["model_id"].isin(model_ids)]
                x, y = _paired(part["value_measure"], part["value_target"])
                extra = tau_statistics(x, y, resamples, confidence, seed) if resamples > 0 else (math.nan,) * 3
                rows.append((measure_id, target_id, label, x.size, *kendall(x, y), *extra))
    table = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    floats = ("tau_b", "tau_a", "p_value", "ci_low", "ci_high", "p_perm")
    return table.astype({"n_models": "int64", **{c: "float64" for c in floats}})


def granulated_kendall(frame: pd.DataFrame, measure: str, target: str, axes: Sequence[str]) -> pd.DataFrame:
    """Granulated Kendall coefficient of Jiang et al. (ICLR 2020).

    ``frame`` holds one row per model with columns ``axes`` (hyperparameters)
    plus ``measure`` and ``target``. For each axis i, models are grouped by
    every fixed combination of the *other* axes, so a group holds models that
    differ only along axis i; ``psi_i`` is the mean tau over those groups and
    ``Psi`` the mean of the non-nan ``psi_i``.

    Tau-a or tau-b: Jiang et al. define psi_i with tau-a (their tau counts tied pairs as 0
    in the numerator over all M(M-1)/2 pairs). Within a group that varies one axis, ties in
    the error are common (few models, discrete errors), and tau-a then shrinks towards 0 by
    the share of tied pairs, so we report both: ``psi`` with tau-b (tie-corrected, the
    headline, as for the plain tau) and ``psi_a`` with tau-a (Jiang et al.'s number).

    Choices: nan pairs are dropped; a group with fewer than 2 models (singleton / missing
    cells) or without a tau-b (constant values) is skipped for both variants, i.e. left
    out of the mean and counted in ``n_skipped``; ``n_groups`` counts the groups used. An
    axis with no used group has nan psi. With a single axis the only group is all models.

    Returns rows ``[axis, psi, psi_a, n_groups, n_skipped]``, one per axis in the given
    order, then ``axis="Psi"`` whose counts are the sums over axes.
    """
    axes = list(axes)
    if not axes or len(set(axes)) != len(axes):
        raise ValueError(f"axes must be non-empty and distinct: {axes}")
    _require(frame, [*axes, measure, target], "frame")
    xs, ys = frame[measure].to_numpy(dtype=float), frame[target].to_numpy(dtype=float)
    rows = []
    for axis in axes:
        others = [a for a in axes if a != axis]
        codes = np.zeros(len(frame), dtype=np.int64) if not others else frame.groupby(others, sort=True, dropna=False).ngroup().to_numpy()
        cells = [np.flatnonzero(codes == code) for code in np.unique(codes)]
        taus = [_tau_b_and_a(*_paired(xs[cell], ys[cell])) for cell in cells]
        used = [(b, a) for b, a in taus if not math.isnan(b)]
        psi = float(np.mean([b for b, _ in used])) if used else math.nan
        psi_a = float(np.mean([a for _, a in used])) if used else math.nan
        rows.append((axis, psi, psi_a, len(used), len(cells) - len(used)))

    def mean(values: list[float]) -> float:
        kept = [v for v in values if not math.isnan(v)]
        return float(np.mean(kept)) if kept else math.nan

    rows.append(("Psi", mean([r[1] for r in rows]), mean([r[2] for r in rows]), sum(r[3] for r in rows), sum(r[4] for r in rows)))
    return pd.DataFrame(rows, columns=["axis", "psi", "psi_a", "n_groups", "n_skipped"]).astype(
        {"psi": "float64", "psi_a": "float64", "n_groups": "int64", "n_skipped": "int64"}
    )


def _format_cell(value: float, digits: int) -> str:
    """``value`` with ``digits`` decimals, "—" for nan, never "-0.00"."""
    if math.isnan(value):
        return "—"
    text = f"{value:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def markdown_table(
    table: pd.DataFrame,
    rows: str = "measure",
    cols: str = "target",
    value: str = "tau_b",
    subgroup: str = "all",
    digits: int = 2,
    interval: bool = False,
) -> str:
    """GitHub Markdown table of ``value`` for one ``subgroup`` of a :func:`kendall_table`.

    Rows and columns appear in order of first appearance in ``table``
    (sorted already for :func:`kendall_table` output); numbers have
    ``digits`` decimals and nan or missing cells show "—". With ``interval``, each cell
    is followed by its confidence interval from columns ``ci_low``, ``ci_high``
    (``0.35 [0.12, 0.55]``; nothing when the interval is nan).
    """
    _require(table, [rows, cols, value, "subgroup", *(("ci_low", "ci_high") if interval else ())], "table")
    part = table[table["subgroup"] == subgroup]
    if part.duplicated([rows, cols]).any():
        raise ValueError(f"more than one {value} per ({rows}, {cols}) in subgroup {subgroup!r}")
    row_keys = pd.unique(part[rows]).tolist()
    col_keys = pd.unique(part[cols]).tolist()
    cells = {(r, c): _format_cell(float(v), digits) for r, c, v in zip(part[rows], part[cols], part[value], strict=True)}
    if interval:
        for (r, c), low, high in zip(zip(part[rows], part[cols]), part["ci_low"], part["ci_high"], strict=True):
            if not (math.isnan(low) or math.isnan(high)):
                cells[(r, c)] += f" [{_format_cell(float(low), digits)}, {_format_cell(float(high), digits)}]"
    lines = [
        "| " + " | ".join([rows, *map(str, col_keys)]) + " |",
        "|" + "|".join([" --- ", *[" ---: "] * len(col_keys)]) + "|",
    ]
    for r in row_keys:
        values = [cells.get((r, c), "—") for c in col_keys]
        lines.append("| " + " | ".join([str(r), *values]) + " |")
    return "\n".join(lines) + "\n"
