"""From the aggregated tables to Kendall tau: generalization targets and their correlations."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from sharpgen.cmi import SCALE, pgdl_cmi
from sharpgen.correlation import granulated_kendall, group_columns, kendall_table
from sharpgen.settings.base import SHIFT_PREFIX


def target_name(split: str) -> str:
    """Metric names: test_error, <shift>_error, and for shifts written shift:<name>."""
    return f"{split.removeprefix(SHIFT_PREFIX)}_error"


def targets(metrics: pd.DataFrame) -> pd.DataFrame:
    """Long table [model_id, target, value]: test and shifted errors, and the generalization gaps."""
    errors = metrics[metrics["split"] != "train"].assign(target=lambda f: f["split"].map(target_name))
    out = [errors[["model_id", "target", "error"]].rename(columns={"error": "value"})]
    wide = metrics.pivot(index="model_id", columns="split", values=["loss", "error"])
    if ("error", "train") in wide.columns and ("error", "test") in wide.columns:
        for kind in ("error", "loss"):
            gap = (wide[(kind, "test")] - wide[(kind, "train")]).rename("value").reset_index()
            out.append(gap.assign(target=f"gen_gap_{kind}"))
    return pd.concat(out, ignore_index=True)[["model_id", "target", "value"]]


def kept_models(metrics: pd.DataFrame, max_train_error: float) -> pd.Index:
    """Models whose training error is at most ``max_train_error`` (all when there is no train split)."""
    train = metrics[metrics["split"] == "train"].set_index("model_id")["error"]
    if train.empty:
        return pd.Index(metrics["model_id"].unique())
    return train.index[train <= max_train_error]


def hyperparameter_targets(models: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Long table [model_id, target, value] of numeric model columns (e.g. the learning rate):
    tau(sharpness, lr) says how much of a measure the training recipe already explains."""
    frames = []
    for column in columns:
        values = pd.to_numeric(models[column], errors="coerce")
        frames.append(pd.DataFrame({"model_id": models["model_id"], "target": column, "value": values.astype(float)}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["model_id", "target", "value"])


def oracle_measures(metrics: pd.DataFrame, levels: Sequence[float], seed: int) -> pd.DataFrame:
    """Oracle rows [model_id, definition, sharpness_loss] (Jiang et al. 2020): the test error plus
    Gaussian noise of standard deviation ``level`` (seeded), as a yardstick of what a tau means."""
    import numpy as np

    test = metrics[metrics["split"] == "test"].sort_values("model_id")
    frames = []
    for i, level in enumerate(levels):
        noise = np.random.default_rng([seed, i]).normal(0.0, level, len(test))
        frames.append(pd.DataFrame({"model_id": test["model_id"].to_numpy(), "definition": f"oracle_noise{level:g}",
                                    "sharpness_loss": test["error"].to_numpy(dtype=float) + noise}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["model_id", "definition", "sharpness_loss"])


def correlate(
    setting: str,
    models: pd.DataFrame,
    metrics: pd.DataFrame,
    sharpness: pd.DataFrame,
    group_by: Sequence[str],
    axes: Sequence[str],
    max_train_error: float,
    hyperparameters: Sequence[str] = (),
    resamples: int = 0,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Kendall tau of every definition against every target (all models and subgroups), and
    the granulated coefficient over the hyperparameter ``axes``, whose ``Psi`` rows also carry the
    PGDL competition's score over the same axes (``cmi``, x100, :func:`sharpgen.cmi.pgdl_cmi`).

    ``sharpness`` is long ``[model_id, definition, sharpness_loss]`` (sharpness definitions and
    other measures alike). Targets are the errors and generalization gaps, then the model
    columns ``hyperparameters`` (e.g. ``lr``; not in the granulated coefficient). With
    ``resamples > 0`` every tau gets a bootstrap interval and a permutation p-value
    (:func:`sharpgen.correlation.tau_statistics`).
    """
    missing = [c for c in (*group_columns(group_by), *axes, *hyperparameters) if c not in models.columns]
    if missing:
        raise ValueError(f"config {setting}.correlation names columns {missing} that the model sheet lacks; choose from {sorted(models.columns)}")
    keep = kept_models(metrics, max_train_error)
    measures = sharpness[sharpness["model_id"].isin(keep)].rename(columns={"definition": "measure", "sharpness_loss": "value"})
    target_frame = targets(metrics[metrics["model_id"].isin(keep)])
    kept_sheet = models[models["model_id"].isin(keep)]
    all_targets = pd.concat([target_frame, hyperparameter_targets(kept_sheet, hyperparameters)], ignore_index=True)
    groups = kept_sheet[["model_id", *group_columns(group_by)]]
    table = kendall_table(measures[["model_id", "measure", "value"]], all_targets, groups, group_by, resamples, confidence, seed)
    # hyperparameter columns after the errors (a stable sort keeps the rest of the order)
    table = table.assign(_hp=table["target"].isin(list(hyperparameters))).sort_values(["measure", "_hp"], kind="stable")
    table = table.drop(columns="_hp").reset_index(drop=True)
    table = table.rename(columns={"measure": "definition"}).assign(setting=setting)

    granulated = []
    if axes:
        wide_targets = target_frame.pivot(index="model_id", columns="target", values="value")
        for definition, rows in measures.groupby("measure", sort=True):
            frame = models.set_index("model_id")[list(axes)].join(rows.set_index("model_id")["value"], how="inner")
            frame = frame.join(wide_targets, how="inner").reset_index()
            for target in wide_targets.columns:
                g = granulated_kendall(frame, "value", target, axes)
                cmi = SCALE * pgdl_cmi(frame["value"], frame[target], frame[list(axes)])
                g = g.assign(cmi=[cmi if axis == "Psi" else float("nan") for axis in g["axis"]])
                granulated.append(g.assign(setting=setting, definition=definition, target=target))
    columns = ["setting", "definition", "target", "axis", "psi", "psi_a", "n_groups", "n_skipped", "cmi"]
    gran = pd.concat(granulated, ignore_index=True)[columns] if granulated else pd.DataFrame(columns=columns)
    return table, gran
