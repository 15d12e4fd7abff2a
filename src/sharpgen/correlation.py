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
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

TABLE_COLUMNS = ("measure", "target", "subgroup", "n_models", "tau_b", "tau_a", "p_value")


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


def _tau_b(x: npt.ArrayLike, y: npt.ArrayLike) -> float:
    """Nan-safe tau-b; nan for fewer than 2 pairs or a constant vector."""
    xs, ys = _paired(x, y)
    if xs.size < 2 or _is_constant(xs) or _is_constant(ys):
        return math.nan
    return float(stats.kendalltau(xs, ys, variant="b").statistic)


def kendall_tau_a(x: npt.ArrayLike, y: npt.ArrayLike) -> float:
    """Exact Kendall tau-a: mean of ``sign(x_i - x_j) sign(y_i - y_j)`` over pairs.

    Tied pairs contribute 0, so a constant vector gives 0.0. Fewer than two
    values give nan; nan inputs propagate (use :func:`kendall` to drop them).
    O(M^2) time, O(M) memory, integer accumulation (exact).
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
        net += int(np.sum(np.sign(xs[i + 1 :] - xs[i]) * np.sign(ys[i + 1 :] - ys[i]), dtype=np.int64))
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
            )
            for label, model_ids in subsets:
                part = joined if model_ids is None else joined[joined["model_id"].isin(model_ids)]
                x, y = _paired(part["value_measure"], part["value_target"])
                rows.append((measure_id, target_id, label, x.size, *kendall(x, y)))
    table = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    return table.astype({"n_models": "int64", "tau_b": "float64", "tau_a": "float64", "p_value": "float64"})


def granulated_kendall(frame: pd.DataFrame, measure: str, target: str, axes: Sequence[str]) -> pd.DataFrame:
    """Granulated Kendall coefficient of Jiang et al. (ICLR 2020).

    ``frame`` holds one row per model with columns ``axes`` (hyperparameters)
    plus ``measure`` and ``target``. For each axis i, models are grouped by
    every fixed combination of the *other* axes, so a group holds models that
    differ only along axis i; ``psi_i`` is the mean tau over those groups and
    ``Psi`` the mean of the non-nan ``psi_i``.

    Choices: tau within a group is tau-b (tie-corrected); nan pairs are
    dropped; a group with fewer than 2 models (singleton / missing cells) or a
    nan tau (constant values) is skipped, i.e. left out of the mean and counted
    in ``n_skipped``; ``n_groups`` counts the groups used. An axis with no used
    group has ``psi = nan``. With a single axis the only group is all models.

    Returns rows ``[axis, psi, n_groups, n_skipped]``, one per axis in the
    given order, then ``axis="Psi"`` whose counts are the sums over axes.
    """
    axes = list(axes)
    if not axes or len(set(axes)) != len(axes):
        raise ValueError(f"axes must be non-empty and distinct: {axes}")
    _require(frame, [*axes, measure, target], "frame")
    rows = []
    for axis in axes:
        others = [a for a in axes if a != axis]
        cells = [frame] if not others else [g for _, g in frame.groupby(others, sort=True, dropna=False)]
        taus = [_tau_b(cell[measure], cell[target]) for cell in cells]
        used = [t for t in taus if not math.isnan(t)]
        psi = float(np.mean(used)) if used else math.nan
        rows.append((axis, psi, len(used), len(taus) - len(used)))
    psis = [psi for _, psi, _, _ in rows if not math.isnan(psi)]
    overall = float(np.mean(psis)) if psis else math.nan
    rows.append(("Psi", overall, sum(r[2] for r in rows), sum(r[3] for r in rows)))
    return pd.DataFrame(rows, columns=["axis", "psi", "n_groups", "n_skipped"]).astype(
        {"psi": "float64", "n_groups": "int64", "n_skipped": "int64"}
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
) -> str:
    """GitHub Markdown table of ``value`` for one ``subgroup`` of a :func:`kendall_table`.

    Rows and columns appear in order of first appearance in ``table``
    (sorted already for :func:`kendall_table` output); numbers have
    ``digits`` decimals and nan or missing cells show "—".
    """
    _require(table, [rows, cols, value, "subgroup"], "table")
    part = table[table["subgroup"] == subgroup]
    if part.duplicated([rows, cols]).any():
        raise ValueError(f"more than one {value} per ({rows}, {cols}) in subgroup {subgroup!r}")
    row_keys = pd.unique(part[rows]).tolist()
    col_keys = pd.unique(part[cols]).tolist()
    cells = {(r, c): float(v) for r, c, v in zip(part[rows], part[cols], part[value], strict=True)}
    lines = [
        "| " + " | ".join([rows, *map(str, col_keys)]) + " |",
        "|" + "|".join([" --- ", *[" ---: "] * len(col_keys)]) + "|",
    ]
    for r in row_keys:
        values = [_format_cell(cells.get((r, c), math.nan), digits) for c in col_keys]
        lines.append("| " + " | ".join([str(r), *values]) + " |")
    return "\n".join(lines) + "\n"
