"""How much the choice of models moves Kendall's tau: tau over many random subsets of k models.

A paper may report tau over some of a collection's models without saying which (the BERT
figure of Andriushchenko et al. has 50 of McCoy et al.'s 100 runs). This analysis draws
``draws`` subsets of ``k`` of the analysed models (uniformly without replacement, seeded),
computes tau-b on each (vectorised over subsets: :func:`sharpgen.correlation.tau_b_vectorized`)
and summarises the distribution by its quantiles, beside tau over all models and over the first
k models by model id (the default choice, e.g. runs 0-49 of ``bert``).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from sharpgen.correlation import _format_cell, tau_b_vectorized

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
QUANTILE_COLUMNS = tuple(f"q{round(100 * q):02d}" for q in QUANTILES)
# sign matrices of one chunk of subsets: at most this many int8 entries (bounded memory for large k)
_CHUNK_ENTRIES = 1 << 25


def draw_subsets(n: int, k: int, draws: int, seed: int) -> np.ndarray:
    """``draws`` random subsets of ``k`` of ``range(n)`` (each uniform, without replacement),
    as an int array of shape ``(draws, k)``, each row sorted; the same arguments give the same
    subsets."""
    if not 1 <= k <= n:
        raise ValueError(f"subsets of k = {k} models from {n}: need 1 <= k <= n")
    keys = np.random.default_rng(seed).random((draws, n))
    return np.sort(np.argpartition(keys, k - 1, axis=1)[:, :k], axis=1)


def tau_subsets(x: npt.ArrayLike, y: npt.ArrayLike, subsets: np.ndarray) -> np.ndarray:
    """Tau-b of ``(x[s], y[s])`` for every row ``s`` of ``subsets`` (nan where a subset is
    constant in x or y), computed in chunks of subsets."""
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    k = subsets.shape[1]
    chunk = max(1, _CHUNK_ENTRIES // max(k * k, 1))
    parts = [tau_b_vectorized(xs[subsets[i : i + chunk]], ys[subsets[i : i + chunk]]) for i in range(0, len(subsets), chunk)]
    return np.concatenate(parts) if parts else np.empty(0)


def subset_table(
    measures: pd.DataFrame, targets: pd.DataFrame, k: int, draws: int, seed: int
) -> tuple[pd.DataFrame, dict[tuple[str, str], np.ndarray]]:
    """Quantiles of tau-b over random k-subsets for every (measure, target).

    ``measures`` is long ``[model_id, measure, value]``, ``targets`` long ``[model_id, target,
    value]``; the table names the measure ``definition``. The population of a pair is the models with both values (sorted by model id); each
    pair draws its subsets with ``seed`` (so pairs with the same population share the subsets).
    A pair with fewer than ``k + 1`` models gets nan quantiles (no choice to vary). Returns
    the table (one row per pair: ``n_models``, ``k``, ``draws``, ``tau_all``, ``tau_first``
    (the first k by model id), ``mean``, ``std``, the quantiles, ``n_nan``) and the taus per pair.
    """
    rows, taus = [], {}
    for measure, by_measure in measures.groupby("measure", sort=True):
        for target, by_target in targets.groupby("target", sort=True):
            joined = by_measure[["model_id", "value"]].merge(by_target[["model_id", "value"]], on="model_id", suffixes=("_x", "_y"))
            joined = joined.dropna().sort_values("model_id", kind="stable")
            x, y, n = joined["value_x"].to_numpy(float), joined["value_y"].to_numpy(float), len(joined)
            tau_all = float(tau_b_vectorized(x, y)) if n >= 2 else math.nan
            if n <= k:
                rows.append((measure, target, n, k, draws, tau_all, math.nan, math.nan, math.nan, *(math.nan,) * len(QUANTILES), 0))
                continue
            values = tau_subsets(x, y, draw_subsets(n, k, draws, seed))
            taus[(measure, target)] = values
            finite = values[~np.isnan(values)]
            tau_first = float(tau_b_vectorized(x[:k], y[:k]))
            summary = (float(finite.mean()), float(finite.std(ddof=1)) if finite.size > 1 else math.nan) if finite.size else (math.nan, math.nan)
            quantiles = tuple(float(q) for q in np.quantile(finite, QUANTILES)) if finite.size else (math.nan,) * len(QUANTILES)
            rows.append((measure, target, n, k, draws, tau_all, tau_first, *summary, *quantiles, int(values.size - finite.size)))
    columns = ["definition", "target", "n_models", "k", "draws", "tau_all", "tau_first", "mean", "std", *QUANTILE_COLUMNS, "n_nan"]
    return pd.DataFrame(rows, columns=columns), taus


def markdown_section(table: pd.DataFrame, setting: str) -> str:
    """The subsets table as a Markdown section: one row per (definition, target)."""
    if table.empty:
        return f"## Tau over random subsets of models, setting {setting}\n\nNo definition has a target.\n"
    k, draws = int(table["k"].iloc[0]), int(table["draws"].iloc[0])
    head = ["definition", "target", "models", "tau (all)", f"tau (first {k})", *(f"{int(c[1:])}%" for c in QUANTILE_COLUMNS)]
    lines = [
        f"## Tau over random subsets of {k} models, setting {setting}\n",
        f"How much the choice of models moves Kendall's tau-b: {draws} random subsets of {k} of the analysed models "
        f"per row (seeded); quantiles of tau-b over the subsets, beside tau over all models and over the first {k} "
        "by model id.\n",
        "| " + " | ".join(head) + " |",
        "| --- | --- |" + " ---: |" * (len(head) - 2),
    ]
    for r in table.itertuples(index=False):
        cells = [r.definition, r.target, str(r.n_models), _format_cell(r.tau_all, 2), _format_cell(r.tau_first, 2),
                 *(_format_cell(getattr(r, c), 2) for c in QUANTILE_COLUMNS)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def html_section(table: pd.DataFrame, setting: str, figures: Sequence[str] = ()) -> str:
    """The subsets table as an HTML section (then the histogram figures, given as HTML)."""
    if table.empty:
        return f"<h2>Tau over random subsets of models</h2><p>No definition of {html.escape(setting)} has a target.</p>\n"
    k, draws = int(table["k"].iloc[0]), int(table["draws"].iloc[0])
    head = ["definition", "target", "models", "tau (all)", f"tau (first {k})", *(f"{int(c[1:])}%" for c in QUANTILE_COLUMNS)]
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in (
            r.definition, r.target, r.n_models, _format_cell(r.tau_all, 2), _format_cell(r.tau_first, 2),
            *(_format_cell(getattr(r, c), 2) for c in QUANTILE_COLUMNS))) + "</tr>"
        for r in table.itertuples(index=False)
    )
    caption = (
        f"How much the choice of models moves Kendall's tau-b: quantiles over {draws} random subsets of {k} of the "
        f"analysed models (seeded), beside tau-b over all models and over the first {k} by model id."
    )
    return (
        f"<h2>Tau over random subsets of {k} models</h2>\n<table><caption>{html.escape(caption)}</caption><thead><tr>"
        + "".join(f"<th>{html.escape(h)}</th>" for h in head) + f"</tr></thead><tbody>{body}</tbody></table>\n" + "".join(figures)
    )
