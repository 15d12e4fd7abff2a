"""Evaluated vs published accuracies: the first place a wrong preprocessing or a mismatched
checkpoint shows.

Where a setting evaluates its models itself (``metrics: evaluate``) and its collection publishes
their accuracies, both metrics tables exist; this joins them per (model, split) and flags every
difference above a threshold in percentage points.
"""

from __future__ import annotations

import pandas as pd

COLUMNS = ["setting", "model_id", "split", "evaluated_accuracy", "published_accuracy", "difference_points", "drifted"]


def drift(evaluated: pd.DataFrame, published: pd.DataFrame, threshold_points: float) -> pd.DataFrame:
    """One row per (model, split) present in both metrics tables: the accuracies (1 - error),
    their difference in percentage points (evaluated - published) and whether its size exceeds
    ``threshold_points``."""
    keys = ["setting", "model_id", "split"]
    joined = evaluated[[*keys, "error"]].merge(published[[*keys, "error"]], on=keys, suffixes=("_evaluated", "_published"), validate="one_to_one")
    out = pd.DataFrame({
        **{k: joined[k] for k in keys},
        "evaluated_accuracy": 1.0 - joined["error_evaluated"].astype(float),
        "published_accuracy": 1.0 - joined["error_published"].astype(float),
    })
    out["difference_points"] = 100.0 * (out["evaluated_accuracy"] - out["published_accuracy"])
    out["drifted"] = out["difference_points"].abs() > threshold_points
    return out[COLUMNS].sort_values(keys, ignore_index=True)


def drifted_models(table: pd.DataFrame) -> list[str]:
    """The models with a drifted split, sorted."""
    return sorted(set(table.loc[table["drifted"], "model_id"]))


def warning(table: pd.DataFrame, threshold_points: float) -> str | None:
    """A one-paragraph warning naming every drifted model (None when there is none)."""
    models = drifted_models(table)
    if not models:
        return None
    worst = table.loc[table["difference_points"].abs().idxmax()]
    return (
        f"{len(models)} of {table['model_id'].nunique()} models have an evaluated accuracy more than {threshold_points:g} "
        f"points away from the published one (largest: {worst['model_id']} on {worst['split']}, "
        f"{worst['difference_points']:+.2f} points); check the preprocessing and the checkpoints: {', '.join(models)}."
    )


def markdown(setting: str, table: pd.DataFrame, threshold_points: float) -> str:
    """The drift section of the Markdown report: the warning, then every (model, split)."""
    lines = ["## Accuracy drift: evaluated vs published\n"]
    message = warning(table, threshold_points)
    if table.empty:
        lines.append(f"No model of {setting} has both an evaluated and a published accuracy on the same split.")
    elif message:
        lines.append(f"**Warning:** {message}\n")
    else:
        lines.append(f"Every evaluated accuracy of {setting} lies within {threshold_points:g} points of the published one "
                     f"({len(table)} (model, split) pairs).\n")
    if not table.empty:
        lines += ["| model | split | evaluated | published | difference (points) | drifted |", "| --- | --- | ---: | ---: | ---: | :---: |"]
        for _, r in table.iterrows():
            lines.append(f"| {r['model_id']} | {r['split']} | {r['evaluated_accuracy']:.4f} | {r['published_accuracy']:.4f} | "
                         f"{r['difference_points']:+.2f} | {'yes' if r['drifted'] else ''} |")
    return "\n".join(lines) + "\n"
