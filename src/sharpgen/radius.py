"""Radii you can trust: is a radius lost in noise, or does it saturate the models?

A radius is useful when sharpness at it stands out of its Monte Carlo error and the perturbed
models still classify better than chance. For each (definition, radius) this check takes the
sharpness rows of a few models (``sharpness_loss``, ``sharpness_loss_sem``, ``sharpness_error``,
``clean_error`` of the sharpness table) and reports

- the median loss increase over the checked models and its Monte Carlo error: the standard
  deviation of the median when each model's value varies by its own standard error over its
  n/m batches (``sharpness_loss_sem``: the noise draws' Monte Carlo error plus the spread
  between batches), estimated by seeded parametric resampling;
- the median error increase and the median perturbed error (clean + increase);
- a flag: ``lost in noise`` when ``|median loss increase| <= noise x its Monte Carlo error``
  (not distinguishable from 0), ``saturated`` when the median perturbed error is at least
  ``saturation x (1 - 1/classes)`` (near chance), ``ok`` otherwise, ``no MC error`` when a
  model has a single batch (m = n: no standard error).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from sharpgen.correlation import _format_cell

RESAMPLES = 2000  # parametric resamples of the median's Monte Carlo error
COLUMNS = (
    "definition", "algorithm", "norm", "variant", "rho", "m", "n_models", "classes", "clean_error", "loss_increase",
    "loss_increase_mc", "error_increase", "perturbed_error", "chance_error", "noise",
    "saturation", "flag",
)


def checked_models(model_ids: Sequence[str], k: int) -> list[str]:
    """``k`` models spread evenly over ``model_ids`` (first, last and between, in order); all
    when ``k`` is 0 or at least their number."""
    ids = list(model_ids)
    if k <= 0 or k >= len(ids):
        return ids
    if k == 1:
        return ids[:1]
    return [ids[i] for i in sorted(set(np.linspace(0, len(ids) - 1, k).round().astype(int)))]


def median_mc_error(values: np.ndarray, sems: np.ndarray, seed: int = 0) -> float:
    """Standard deviation of the median of ``values`` when each varies by a normal error of its
    ``sems`` (seeded resampling); nan when a standard error is missing."""
    if values.size == 0 or np.isnan(sems).any():
        return math.nan
    noise = np.random.default_rng(seed).standard_normal((RESAMPLES, values.size)) * sems
    return float(np.median(values + noise, axis=1).std(ddof=1))


def flag(loss_increase: float, mc_error: float, perturbed_error: float, chance_error: float, noise: float, saturation: float) -> str:
    """``lost in noise``, ``saturated`` (both, joined by "; "), ``ok`` or ``no MC error``."""
    flags = []
    if math.isnan(mc_error):
        flags.append("no MC error")
    elif abs(loss_increase) <= noise * mc_error:
        flags.append("lost in noise")
    if perturbed_error >= saturation * chance_error:
        flags.append("saturated")
    return "; ".join(flags) or "ok"


def radius_check(sharpness: pd.DataFrame, classes: int, noise: float = 2.0, saturation: float = 0.9, seed: int = 0) -> pd.DataFrame:
    """One row per definition of ``sharpness`` (the rows of the checked models): medians over
    models, the Monte Carlo error of the median loss increase and the flag (module docstring).
    ``classes``: the number of classes (chance error ``1 - 1/classes``). Rows in the order of
    (algorithm, norm, variant, m, rho)."""
    if classes < 2:
        raise ValueError(f"radius check: {classes} classes in the sharpness data; need at least 2")
    chance = 1.0 - 1.0 / classes
    rows = []
    for definition, part in sharpness.groupby("definition", sort=True):
        first = part.iloc[0]
        loss = part["sharpness_loss"].to_numpy(float)
        perturbed = (part["clean_error"] + part["sharpness_error"]).to_numpy(float)
        increase = float(np.median(loss))
        mc = median_mc_error(loss, part["sharpness_loss_sem"].to_numpy(float), seed)
        perturbed_error = float(np.median(perturbed))
        rows.append((
            definition, first["algorithm"], first["norm"], first["variant"], float(first["rho"]), int(first["m"]), len(part), classes,
            float(part["clean_error"].median()), increase, mc, float(part["sharpness_error"].median()), perturbed_error, chance,
            noise, saturation, flag(increase, mc, perturbed_error, chance, noise, saturation),
        ))
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    return table.sort_values(["algorithm", "norm", "variant", "m", "rho"], kind="stable").reset_index(drop=True)


def _number(value: float) -> str:
    """Three significant digits ("—" for nan)."""
    return "—" if math.isnan(value) else f"{value:.3g}"


def _cells(r) -> list[str]:
    return [r.definition, _number(r.rho), str(r.n_models), _format_cell(r.clean_error, 3), _number(r.loss_increase),
            _number(r.loss_increase_mc), _format_cell(r.error_increase, 3), _format_cell(r.perturbed_error, 3), r.flag]


HEAD = ("definition", "rho", "models", "clean error", "loss increase", "MC error", "error increase", "perturbed error", "flag")


def _intro(table: pd.DataFrame) -> str:
    if table.empty:
        return "No sharpness rows for the checked models."
    chance, noise, saturation = (float(table[c].iloc[0]) for c in ("chance_error", "noise", "saturation"))
    return (
        "Per definition, medians over the checked models of the loss and error increase on the sharpness data, and "
        "the Monte Carlo error of the median loss increase (from each model's standard error over its batches). "
        f"Flags: lost in noise when |increase| <= {noise:g} x its MC error; saturated when the perturbed error is at "
        f"least {saturation:g} x the chance error ({_format_cell(chance, 3)})."
    )


def markdown_section(table: pd.DataFrame, setting: str) -> str:
    """The radius check as a Markdown section."""
    lines = [f"## Radius check, setting {setting}\n", _intro(table) + "\n",
             "| " + " | ".join(HEAD) + " |", "| --- |" + " ---: |" * (len(HEAD) - 2) + " --- |"]
    lines += ["| " + " | ".join(_cells(r)) + " |" for r in table.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def html_section(table: pd.DataFrame, setting: str) -> str:
    """The radius check as an HTML section."""
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in _cells(r)) + "</tr>" for r in table.itertuples(index=False))
    return (
        f"<h2>Radius check</h2>\n<table><caption>{html.escape(_intro(table))}</caption><thead><tr>"
        + "".join(f"<th>{html.escape(h)}</th>" for h in HEAD) + f"</tr></thead><tbody>{body}</tbody></table>\n"
    )
