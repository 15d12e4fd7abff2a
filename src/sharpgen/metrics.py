"""Metrics rows (one per model and split) from a collection's published accuracies."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd


def published_metrics(setting: str, sheet: pd.DataFrame, columns: Mapping[str, str]) -> pd.DataFrame:
    """The METRICS rows of published accuracies: error = 1 - accuracy.

    ``columns`` maps the sheet's accuracy columns to split names (test, train, shift:<name>).
    loss is NaN (no collection publishes it) and n_examples is null: the published numbers do
    not say on how many examples they were measured. Models or splits without a published value
    get no row.
    """
    present = {c: s for c, s in columns.items() if c in sheet}
    tests = [c for c, s in present.items() if s == "test"]
    if not tests or sheet[tests].isna().all().all():
        raise ValueError(f"setting {setting!r} has no published test accuracy in its model sheet; use {setting}.metrics: evaluate")
    long = sheet.melt(id_vars=["model_id"], value_vars=list(present), var_name="column", value_name="accuracy")
    long = long.dropna(subset=["accuracy"])
    accuracy = long["accuracy"].astype(float)
    if ((accuracy < 0) | (accuracy > 1)).any():
        raise ValueError(f"setting {setting!r}: published accuracies must be fractions in [0, 1]")
    return pd.DataFrame({
        "setting": setting,
        "model_id": long["model_id"].astype(str).to_numpy(),
        "split": long["column"].map(present).to_numpy(),
        "loss": np.nan,
        "error": (1.0 - accuracy).to_numpy(),
        "n_examples": pd.array([pd.NA] * len(long), dtype="Int64"),
    })
