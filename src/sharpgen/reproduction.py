"""The paper's published values beside ours: join a published table onto the tau table.

Each published Kendall tau (:mod:`sharpgen.published`) is compared with our tau-b of every
candidate (definition x target x subgroup) it may mean: one row per candidate, and for
``relation = min`` ("as low as") one more row, the minimum over the candidates we computed,
with the interval of the candidate that attains it. ``inside`` says whether the paper's value
lies in our bootstrap interval, widened by half a unit of the paper's last digit (the paper
prints two decimals: a printed -0.42 is any value in [-0.425, -0.415]); it is checked for every
candidate of an exact value and for the minimum of an "as low as" value (null otherwise, and
without an interval).

A published PGDL score (statistic ``cmi``, x100) is compared with our ``cmi`` on the Psi row of
the granulated table (same definition and target; subgroup ``all``, the only one the score has).
The score is deterministic given the measure's values, the hyperparameters and the published
accuracies, so there is no interval: ``inside`` is whether our score, rounded as published
(two decimals), equals the published value, i.e. ``|ours - published| <= 0.005``.
``difference`` is ours minus published for every statistic. A candidate named
``external:<name>`` (a measure sharpgen does not compute) never has a row of ours.
"""

from __future__ import annotations

import math
from itertools import product

import pandas as pd

from sharpgen.published import EXTERNAL, candidates

STATISTIC = "kendall_tau"  # the statistic of the tau table
SCORE = "cmi"  # the PGDL score, on the Psi rows of the granulated table
STATISTICS = (STATISTIC, SCORE)
ROUNDING = 0.005  # half a unit of the paper's second decimal
COLUMNS = [
    "setting", "value_id", "statistic", "relation", "paper_value", "source", "note", "compared",
    "definition", "target", "subgroup", "n_models", "ours", "ci_low", "ci_high", "p_perm", "difference", "inside",
]


def _keys(row) -> list[tuple[str, str, str]]:
    """Every (definition, target, subgroup) a published row may mean."""
    return list(product(candidates(row.definitions), candidates(row.target), candidates(row.subgroup)))


def inside(value: float, low: float, high: float) -> bool | None:
    """Whether ``value`` (printed with two decimals) lies in [low, high]; None without an interval."""
    if math.isnan(low) or math.isnan(high):
        return None
    return low - ROUNDING <= value <= high + ROUNDING


def matches(value: float, ours: float) -> bool | None:
    """Whether a published PGDL score (two decimals) is ours rounded; None without ours."""
    if math.isnan(ours):
        return None
    return abs(ours - value) <= ROUNDING + 1e-9  # 1e-9: the binary representation of the two decimals


def compare(correlation: pd.DataFrame, published: pd.DataFrame, granulated: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per (published value, candidate), plus the minimum row of each ``min`` value.

    ``correlation`` is the tau table (one row per definition, target, subgroup); ``granulated``
    the granulated table, whose Psi rows carry our PGDL score (``cmi``); ``published`` the
    setting's published rows (statistics other than Kendall tau and the PGDL score are skipped).
    A candidate we did not compute (not in the grid, a subgroup without models, an external
    measure) has ``n_models`` 0 and NaN values.
    """
    tau = correlation.set_index(["definition", "target", "subgroup"])
    gran = granulated if granulated is not None else pd.DataFrame(columns=["definition", "target", "axis", "cmi"])
    score = gran[gran["axis"] == "Psi"].set_index(["definition", "target"])["cmi"]
    rows = []
    for value_id, p in enumerate(published.itertuples(index=False), start=1):
        if p.statistic not in STATISTICS:
            continue
        base = {"setting": p.setting, "value_id": value_id, "statistic": p.statistic, "relation": p.relation,
                "paper_value": float(p.value), "source": p.source, "note": p.note}
        found = []
        for definition, target, subgroup in _keys(p):
            ours = {"n_models": 0, "ours": math.nan, "ci_low": math.nan, "ci_high": math.nan, "p_perm": math.nan}
            if p.statistic == STATISTIC and (definition, target, subgroup) in tau.index:
                r = tau.loc[(definition, target, subgroup)]
                ours = {"n_models": int(r["n_models"]), "ours": float(r["tau_b"]), "ci_low": float(r["ci_low"]),
                        "ci_high": float(r["ci_high"]), "p_perm": float(r["p_perm"])}
            elif p.statistic == SCORE and subgroup == "all" and (definition, target) in score.index:
                n = int(tau.loc[(definition, target, "all"), "n_models"]) if (definition, target, "all") in tau.index else 0
                ours = {**ours, "n_models": n, "ours": float(score.loc[(definition, target)])}
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
    out["difference"] = out["ours"].astype("float64") - out["paper_value"].astype("float64")
    # a candidate of an "as low as" value is not that value: only the minimum is checked
    checked = ~((out["relation"] == "min") & (out["compared"] == "candidate"))
    out["inside"] = pd.array([
        (matches(v, o) if s == SCORE else inside(v, lo, hi)) if c else None
        for v, o, lo, hi, s, c in zip(out["paper_value"], out["ours"], out["ci_low"], out["ci_high"], out["statistic"], checked)
    ], dtype="boolean")
    floats = ("paper_value", "ours", "ci_low", "ci_high", "p_perm", "difference")
    return out.astype({"value_id": "int64", "n_models": "int64", **{c: "float64" for c in floats}})


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
    if str(row["definition"]).startswith(EXTERNAL):
        return "no row of ours (not a sharpgen measure)"
    if math.isnan(row["ours"]):
        return "no row of ours (not computed in this study)" if row["statistic"] == SCORE else "not computed in this study"
    if row["statistic"] == SCORE:
        # a third decimal: the published two are ours rounded, or not
        return f"{row['ours']:.3f}" + (f" ({row['n_models']} models)" if row["n_models"] else "")
    if row["n_models"] == 0:
        return "not computed in this study"
    interval = "" if math.isnan(row["ci_low"]) else f" [{_number(row['ci_low'])}, {_number(row['ci_high'])}]"
    return f"{_number(row['ours'])}{interval} ({row['n_models']} models)"


def verdict(row) -> str:
    value = row["inside"]
    return "—" if value is pd.NA or value is None else ("yes" if value else "no")


def published_text(row) -> str:
    """What was published: ``= -0.42`` or ``as low as -0.51``."""
    relation = "as low as" if row["relation"] == "min" else "="
    return f"{relation} {_number(row['paper_value'])}"


def difference_text(row) -> str:
    return "—" if math.isnan(row["difference"]) else f"{row['difference']:+.3f}"


def compared_text(row) -> str:
    if row["compared"] == "minimum":
        return f"minimum: {row['definition'] or '—'}, {row['target'] or '—'}, {row['subgroup'] or '—'}"
    return f"{row['definition']}, {row['target']}, {row['subgroup']}"


def markdown(setting: str, reproduction: pd.DataFrame, source: str | None) -> str:
    """The Reproduction section of the Markdown report: the Kendall taus, then the PGDL scores."""
    lines = ["## Reproduction: the paper's values beside ours\n"]
    if reproduction.empty:
        lines.append(f"No published value for setting {setting}" + (f" in {source}" if source else "")
                     + ": nothing to compare with the paper.\n")
        return "\n".join(lines)
    taus = reproduction[reproduction["statistic"] == STATISTIC]
    scores = reproduction[reproduction["statistic"] == SCORE]
    if len(taus):
        lines += _tau_markdown(setting, taus, source)
    if len(scores):
        lines += ([""] if len(taus) else []) + _score_markdown(setting, scores, source)
    notes = reproduction.drop_duplicates("value_id")
    lines += ["", "Notes:", ""] + [f"{r['value_id']}. {r['note']}" for _, r in notes.iterrows()]
    return "\n".join(lines) + "\n"


def _score_markdown(setting: str, scores: pd.DataFrame, source: str | None) -> list[str]:
    lines = [
        f"Each PGDL score published for {setting} ({source}; conditional mutual information x100, target gen_gap_error), "
        "beside ours on the same models and published accuracies. matches: our score rounded to two decimals is the "
        "published one (|difference| <= 0.005); the notes say where a difference is expected.\n",
        "| # | published | compared with (measure, target) | ours | difference | matches | source |",
        "| ---: | ---: | --- | ---: | ---: | :---: | --- |",
    ]
    for _, row in scores.iterrows():
        lines.append(f"| {row['value_id']} | {published_text(row)} | {row['definition'] or '—'}, {row['target'] or '—'} | "
                     f"{ours_text(row)} | {difference_text(row)} | {verdict(row)} | {row['source']} |")
    return lines


def _tau_markdown(setting: str, reproduction: pd.DataFrame, source: str | None) -> list[str]:
    lines = [
        f"Each Kendall tau the paper's material publishes for {setting} ({source}), beside our tau-b with its 95% "
        "bootstrap interval over models. inside: whether the paper's value (two decimals, so +-0.005) lies in our "
        "interval. Where the source leaves the definition, radius, target or subgroup open, every candidate is "
        "compared; \"as low as\" values are compared with the minimum over the candidates (with that candidate's "
        "interval).\n"
    ]
    lines += ["| # | paper | compared with (definition, target, subgroup) | ours [95% interval] | inside | source |",
              "| ---: | ---: | --- | ---: | :---: | --- |"]
    for _, row in reproduction.iterrows():
        compared = compared_text(row)
        if row["compared"] == "minimum":
            compared = f"**{compared}**"
        lines.append(f"| {row['value_id']} | {published_text(row)} | {compared} | {ours_text(row)} | {verdict(row)} | {row['source']} |")
    return lines
