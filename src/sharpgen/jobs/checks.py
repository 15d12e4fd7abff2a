"""Rules of workflow/rules/checks.smk: tau over random subsets of models, and the radius check."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from sharpgen import analysis, radius, subsets, tables
from sharpgen.atomic import atomic_path
from sharpgen.log import log


def _measures_and_targets(metrics: Path, sharpness: Path, targets: Sequence[str], max_train_error: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Long ``[model_id, measure, value]`` of every sharpness definition and ``[model_id, target,
    value]`` of ``targets``, over the models with training error <= ``max_train_error``."""
    metrics_ = tables.read(metrics, tables.METRICS)
    sharp = tables.read(sharpness, tables.SHARPNESS)
    keep = analysis.kept_models(metrics_, max_train_error)
    measures = sharp[sharp["model_id"].isin(keep)].rename(columns={"definition": "measure", "sharpness_loss": "value"})
    target_frame = analysis.targets(metrics_[metrics_["model_id"].isin(keep)])
    unknown = sorted(set(targets) - set(target_frame["target"]))
    if unknown:
        raise ValueError(f"targets {unknown} are not in {metrics}; it has {sorted(set(target_frame['target']))}")
    return measures[["model_id", "measure", "value"]], target_frame[target_frame["target"].isin(list(targets))]


def tau_subsets(
    setting: str, metrics: Path, sharpness: Path, targets: Sequence[str], k: int, draws: int, seed: int,
    max_train_error: float, out_table: Path, out_markdown: Path,
) -> None:
    """Quantiles of tau-b over ``draws`` random subsets of ``k`` kept models, per definition and
    target, as Parquet and Markdown."""
    measures, target_frame = _measures_and_targets(metrics, sharpness, targets, max_train_error)
    table, _ = subsets.subset_table(measures, target_frame, k, draws, seed)
    table = table.assign(setting=setting, seed=seed)
    tables.write(table, out_table, tables.SUBSETS, "subsets")
    small = table.loc[table["n_models"] <= k, "definition"].unique()
    if len(small):
        log(f"{setting}: {len(small)} definitions have at most k = {k} models: no subsets to draw")
    with atomic_path(out_markdown) as tmp:
        tmp.write_text(subsets.markdown_section(tables.read(out_table, tables.SUBSETS), setting))
    log(f"{setting}: tau over {draws} subsets of {k} models for {len(table)} (definition, target) pairs -> {out_table}")


def plot_tau_subsets(
    setting: str, definition: str, metrics: Path, sharpness: Path, targets: Sequence[str], k: int, draws: int, seed: int,
    max_train_error: float, outs: Sequence[Path],
) -> None:
    """Histograms of tau over the subsets for one definition (its logit-normalised twin, when
    measured, as the top row), one panel per target; the same draws as :func:`tau_subsets`."""
    from sharpgen.figures import plot_tau_histograms, save_figure
    from sharpgen.jobs.figures import twins

    measures, target_frame = _measures_and_targets(metrics, sharpness, targets, max_train_error)
    sharp = tables.read(sharpness, tables.SHARPNESS)
    rows = {}
    for row_definition in twins(sharp, definition):
        part = measures[measures["measure"] == row_definition]
        table, taus = subsets.subset_table(part, target_frame, k, draws, seed)
        variant = str(sharp.loc[sharp["definition"] == row_definition, "variant"].iloc[0])
        by_target = table.set_index("target")
        rows[variant] = {
            target.replace("_", " "): (taus.get((row_definition, target), np.empty(0)), float(by_target.loc[target, "tau_all"]),
                                       float(by_target.loc[target, "tau_first"]))
            for target in targets
        }
    fig = plot_tau_histograms(rows, k, suptitle=f"{setting}: {definition}, τ over {draws} random subsets of {k} models")
    for out in outs:
        save_figure(fig, Path(out))


def radius_table(
    setting: str, sharpness: Sequence[Path], model_ids: Sequence[str], subset: Path, noise: float, saturation: float,
    out_table: Path, out_markdown: Path,
) -> None:
    """The radius check over the sharpness rows of ``model_ids`` (from the jobs' sharpness
    tables), as Parquet and Markdown; the Markdown is also printed."""
    rows = pd.concat([tables.read(p, tables.SHARPNESS) for p in sharpness], ignore_index=True)
    missing = sorted(set(model_ids) - set(rows["model_id"]))
    if missing:
        raise ValueError(f"radius check: no sharpness rows for models {missing} in {[str(p) for p in sharpness]}")
    rows = rows[rows["model_id"].isin(list(model_ids))]
    classes = int(tables.read(subset, tables.SUBSET)["label"].nunique())
    table = radius.radius_check(rows, classes, noise, saturation).assign(setting=setting)
    tables.write(table, out_table, tables.RADIUS_CHECK, "radius_check")
    text = radius.markdown_section(tables.read(out_table, tables.RADIUS_CHECK), setting)
    with atomic_path(out_markdown) as tmp:
        tmp.write_text(text)
    print(f"models checked: {', '.join(model_ids)}\n\n{text}")
