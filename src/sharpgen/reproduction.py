"""The paper's published values beside ours: join a published table onto the tau table.

Each published Kendall tau (:mod:`sharpgen.published`) is compared with our tau-b of every
candidate (definition x target x subgroup) it may mean: one row per candidate, and for
``relation = min`` ("as low as") one more row, the minimum over the candidates we computed,
with the interval of the candidate that attains it. ``inside`` says whether the paper's value
lies in our bootstrap interval, widened by half a unit of the paper's last digit (the paper
prints two decimals: a printed -0.42 is any value in [-0.425, -0.415]); it is checked for every
candidate of an exact value and for the minimum of an "as low as" value (null otherwise, and
without an interval).
"""

from __future__ import annotations

import math
from itertools import product

import pandas as pd

from sharpgen.published import candidates

STATISTIC = "kendall_tau"  # the statistic of the tau table
ROUNDING = 0.005  # half a unit of the paper's second decimal
COLUMNS = [
    "setting", "value_id", "statistic", "relation", "paper_value", "source", "note", "compared",
    "definition", "target", "subgroup", "n_models", "ours", "ci_low", "ci_high", "p_perm", "inside",
]


def _keys(row) -> list[tuple[str, str, str]]:
    """Every (definition, target, subgroup) a published row may mean."""
    return list(product(candidates(row.definitions), candidates(row.target), candidates(row.subgroup)))


def inside(value: float, low: float, high: float) -> bool | None:
    """Whether ``value`` (printed with two decimals) lies in [low, high]; None without an interval."""
    if math.isnan(low) or math.isnan(high):
        return None
    return low - ROUNDING <= value <= high + ROUNDING


def compare(correlation: pd.DataFrame, published: pd.DataFrame) -> pd.DataFrame:
    """One row per (published value, candidate), plus the minimum row of each ``min`` value.

    ``correlation`` is the tau table (one row per definition, target, subgroup); ``published``
    the setting's published rows (other statistics are skipped). A candidate we did not compute
    (not in the grid, or a subgroup without models) has ``n_models`` 0 and NaN values.
    """
    tau = correlation.set_index(["definition", "target", "subgroup"])
    rows = []
    for value_id, p in enumerate(published.itertuples(index=False), start=1):
        if p.statistic != STATISTIC:
            continue
        base = {"setting": p.setting, "value_id": value_id, "statistic": p.statistic, "relation": p.relation,
                "paper_value": float(p.value), "source": p.source, "note": p.note}
        found = []
        for definition, target, subgroup in _keys(p):
            ours = {"n_models": 0, "ours": math.nan, "ci_low": math.nan, "ci_high": math.nan, "p_perm": math.nan}
            if (definition, target, subgroup) in tau.index:
                r = tau.loc[(definition, target, subgroup)]
                ours = {"n_models": int(r["n_models"]), "ours": float(r["tau_b"]), "ci_low": float(r["ci_low"]),
                        "ci_high": float(r["ci_high"]), "p_perm": float(r["p_perm"])}
            row = {**base, "compared": "candidate", "definition": definition, "target": target, "subgroup": subgroup, **ours}
            rows.append(row)
            if not math.isnan(row["ours"]):
                found.append(row)
        if p.relation == "min":
            if found:
                best = min(found, key=lambda r: r["ours"])
                rows.append({**best, "compared": "minimum"})
            else:
                rows.append({**base, "compared": "minimum", "definition": "", "target": "", "subgroup": "", "n_models": 0,
                             "ours": math.nan, "ci_low": math.nan, "ci_high": math.nan, "p_perm": math.nan})
    out = pd.DataFrame(rows, columns=COLUMNS)
    # a candidate of an "as low as" value is not that value: only the minimum is checked
    checked = ~((out["relation"] == "min") & (out["compared"] == "candidate"))
    out["inside"] = pd.array([inside(v, lo, hi) if c else None for v, lo, hi, c in
                              zip(out["paper_value"], out["ci_low"], out["ci_high"], checked)], dtype="boolean")
    return out.astype({"value_id": "int64", "n_models": "int64", **{c: "float64" for c in ("paper_value", "ours", "ci_low", "ci_high", "p_perm")}})


def annotate(correlation: pd.DataFrame, published: pd.DataFrame) -> pd.DataFrame:
    """The tau table with the paper's value beside ours: ``paper_value`` and ``paper_match``
    ("exact"; "candidate of N" when the source leaves N readings open; "minimum over N" when
    the value is the minimum over N candidates). A row named by several published values takes
    the most specific (exact, then candidate, then minimum; then the first in the table); the
    Reproduction table lists them all."""
    best: dict[tuple[str, str, str], tuple[int, int, float, str]] = {}
    for order, p in enumerate(published.itertuples(index=False)):
        if p.statistic != STATISTIC:
            continue
        keys = _keys(p)
        if p.relation == "min":
            rank, label = 2, f"minimum over {len(keys)}"
        elif len(keys) == 1:
            rank, label = 0, "exact"
        else:
            rank, label = 1, f"candidate of {len(keys)}"
        for key in keys:
            if key not in best or (rank, order) < best[key][:2]:
                best[key] = (rank, order, float(p.value), label)
    keys = list(zip(correlation["definition"], correlation["target"], correlation["subgroup"]))
    return correlation.assign(
        paper_value=pd.Series([best[k][2] if k in best else math.nan for k in keys], index=correlation.index, dtype="float64"),
        paper_match=pd.Series([best[k][3] if k in best else None for k in keys], index=correlation.index, dtype="object"),
    )


def _number(value: float) -> str:
    if math.isnan(value):
        return "—"
    text = f"{value:.2f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def ours_text(row) -> str:
    """Our value with its interval, or why there is none."""
    if row["n_models"] == 0 or math.isnan(row["ours"]):
        return "not computed in this study"
    interval = "" if math.isnan(row["ci_low"]) else f" [{_number(row['ci_low'])}, {_number(row['ci_high'])}]"
    return f"{_number(row['ours'])}{interval} ({row['n_models']} models)"


def verdict(row) -> str:
    value = row["inside"]
    return "—" if value is pd.NA or value is None else ("yes" if value else "no")


def published_text(row) -> str:
    """What was published: ``tau(test_error, all) = -0.42`` or ``min tau(...) = -0.51``."""
    relation = "as low as" if row["relation"] == "min" else "="
    return f"{relation} {_number(row['paper_value'])}"


def compared_text(row) -> str:
    if row["compared"] == "minimum":
        return f"minimum: {row['definition'] or '—'}, {row['target'] or '—'}, {row['subgroup'] or '—'}"
    return f"{row['definition']}, {row['target']}, {row['subgroup']}"


def markdown(setting: str, reproduction: pd.DataFrame, source: str | None) -> str:
    """The Reproduction section of the Markdown report."""
    lines = ["## Reproduction: the paper's values beside ours\n"]
    if reproduction.empty:
        lines.append(f"No published value for setting {setting}" + (f" in {source}" if source else "")
                     + ": nothing to compare with the paper.\n")
        return "\n".join(lines)
    lines.append(
        f"Each Kendall tau the paper's material publishes for {setting} ({source}), beside our tau-b with its 95% "
        "bootstrap interval over models. inside: whether the paper's value (two decimals, so +-0.005) lies in our "
        "interval. Where the source leaves the definition, radius, target or subgroup open, every candidate is "
        "compared; \"as low as\" values are compared with the minimum over the candidates (with that candidate's "
        "interval).\n"
    )
    lines += ["| # | paper | compared with (definition, target, subgroup) | ours [95% interval] | inside | source |",
              "| ---: | ---: | --- | ---: | :---: | --- |"]
    for _, row in reproduction.iterrows():
        compared = compared_text(row)
        if row["compared"] == "minimum":
            compared = f"**{compared}**"
        lines.append(f"| {row['value_id']} | {published_text(row)} | {compared} | {ours_text(row)} | {verdict(row)} | {row['source']} |")
    notes = reproduction.drop_duplicates("value_id")
    lines += ["", "Notes:", ""] + [f"{r['value_id']}. {r['note']}" for _, r in notes.iterrows()]
    return "\n".join(lines) + "\n"
