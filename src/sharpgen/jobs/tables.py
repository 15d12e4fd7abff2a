"""Rules of workflow/rules/tables.smk: the models table, aggregated tables and the tau tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from sharpgen import plan, tables
from sharpgen.atomic import atomic_path
from sharpgen.log import log

KINDS = {"metrics": tables.METRICS, "history": tables.HISTORY, "sharpness": tables.SHARPNESS, "measures": tables.MEASURES}


def models_table(setting: str, block: Mapping[str, Any], out: Path) -> None:
    """The setting's model sheet, rebuilt from the block's sheet keys, as its models table.

    Rebuilt here rather than passed on the command line: BERT's 100 x 45 sheet as JSON exceeds
    the kernel's 128 KiB limit on one argument.
    """
    sheet = plan.model_sheet(setting, block)
    tables.write(sheet, out, tables.models_schema(setting), "models")
    log(f"{setting}: {len(sheet)} models -> {out}")


def aggregate(kind: str, inputs: Sequence[Path], out: Path) -> None:
    """Concatenate per-job tables of one kind."""
    frame = tables.concat(list(inputs), KINDS[kind], kind, out)
    log(f"{kind}: {len(frame)} rows from {len(inputs)} files -> {out}")


def granulated_markdown(gran: pd.DataFrame, target: str) -> str:
    """Per-axis psi_i and Psi for one target: rows definitions, columns axes then Psi, tau-b
    (tau-a, Jiang et al.'s variant, in brackets)."""
    from sharpgen.correlation import _format_cell

    part = gran[gran["target"] == target]
    axes = [a for a in pd.unique(part["axis"]).tolist() if a != "Psi"] + ["Psi"]
    lines = ["| definition | " + " | ".join(axes) + " |", "| --- |" + " ---: |" * len(axes)]
    for definition, rows in part.groupby("definition", sort=True):
        by_axis = rows.set_index("axis")
        cells = [f"{_format_cell(float(by_axis.loc[a, 'psi']), 2)} ({_format_cell(float(by_axis.loc[a, 'psi_a']), 2)})" for a in axes]
        lines.append(f"| {definition} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def paper_markdown(table: pd.DataFrame) -> str:
    """The rows of the tau table that the paper publishes a value for, ours beside the paper's."""
    from sharpgen.correlation import _format_cell

    part = table[table["paper_value"].notna()]
    lines = ["| measure | target | subgroup | ours [95% interval] | paper | paper's value is |", "| --- | --- | --- | ---: | ---: | --- |"]
    for _, r in part.iterrows():
        interval = "" if pd.isna(r["ci_low"]) else f" [{_format_cell(r['ci_low'], 2)}, {_format_cell(r['ci_high'], 2)}]"
        lines.append(f"| {r['measure']} | {r['target']} | {r['subgroup']} | {_format_cell(r['tau_b'], 2)}{interval} | "
                     f"{_format_cell(r['paper_value'], 2)} | {r['paper_match']} |")
    return "\n".join(lines) + "\n"


def correlation_markdown(setting: str, table: pd.DataFrame, gran: pd.DataFrame, kept: int, total: int, max_train_error: float) -> str:
    """The tau tables as Markdown, shaped like the paper's: all models with confidence intervals
    and permutation p-values, then each subgroup, then psi_i and Psi, then the PGDL score."""
    from sharpgen.correlation import markdown_table

    measures = table.rename(columns={"definition": "measure"})
    has_ci = bool(measures["ci_low"].notna().any())
    sections = [
        f"# Kendall tau, setting {setting}\n",
        f"{kept} of {total} models (training error <= {max_train_error}).",
        "tau-b (tie-corrected; tau-a is in correlation.parquet), all models"
        + (", with its 95% bootstrap interval over models in brackets" if has_ci else "")
        + ". Columns named after a hyperparameter (e.g. lr) correlate the measure with the training recipe, "
        "not with generalization:\n",
        markdown_table(measures, subgroup="all", interval=has_ci),
    ]
    if measures["paper_value"].notna().any():
        sections += ["\n## The paper's values beside ours (reproduction.md compares every candidate)\n", paper_markdown(measures)]
    if measures["p_perm"].notna().any():
        sections += ["\n## Permutation p-values (two-sided), all models\n", markdown_table(measures, value="p_perm", subgroup="all", digits=3)]
    for subgroup in sorted(set(table["subgroup"]) - {"all"}):
        sections += [f"\n## {subgroup}\n", markdown_table(measures, subgroup=subgroup, interval=has_ci)]
    if len(gran):
        psi = gran[gran["axis"] == "Psi"].rename(columns={"definition": "measure", "psi": "tau_b"}).assign(subgroup="all")
        sections += ["\n## Granulated Kendall coefficient Psi (Jiang et al., 2020), tau-b within groups\n", markdown_table(psi, subgroup="all")]
        for target in sorted(set(gran["target"])):
            sections += [
                f"\n### psi_i per axis and Psi, target {target}: tau-b (tau-a, as Jiang et al.)\n",
                granulated_markdown(gran, target),
            ]
        if psi["cmi"].notna().any():
            sections += [
                "\n## PGDL score: conditional mutual information x100 (Jiang et al., 2020; the NeurIPS 2020 PGDL "
                "competition's scoring), the minimum over pairs of the axes above\n",
                markdown_table(psi.assign(tau_b=psi["cmi"]), subgroup="all"),
            ]
    return "\n".join(sections) + "\n"


def correlate(
    setting: str, models: Path, metrics: Path, sharpness: Path, group_by: Sequence[str], axes: Sequence[str],
    max_train_error: float, out_table: Path, out_granulated: Path, out_markdown: Path,
    hyperparameters: Sequence[str] = (), resamples: int = 0, confidence: float = 0.95, seed: int = 0,
    measures: Path | None = None, oracle: Sequence[float] = (), published: Path | None = None,
    out_reproduction: Path | None = None, out_reproduction_markdown: Path | None = None,
) -> None:
    """Kendall tau of every definition (then every measure and oracle) against every target, as
    Parquet and Markdown, with the paper's values (``published``, a published table) beside
    ours in the tau table and compared in the reproduction table."""
    from sharpgen import analysis, reproduction
    from sharpgen import published as published_values

    models_ = tables.read(models, tables.models_schema(setting))
    metrics_ = tables.read(metrics, tables.METRICS)
    sharp = tables.read(sharpness, tables.SHARPNESS)[["model_id", "definition", "sharpness_loss"]]
    extra = [analysis.oracle_measures(metrics_, oracle, seed)]
    if measures is not None:
        rows = tables.read(measures, tables.MEASURES)
        extra.append(rows.rename(columns={"measure": "definition", "value": "sharpness_loss"})[list(sharp.columns)])
    sharp = pd.concat([sharp, *extra], ignore_index=True)
    table, gran = analysis.correlate(
        setting, models_, metrics_, sharp, group_by, axes, max_train_error, hyperparameters, resamples, confidence, seed
    )
    paper = published_values.for_setting(published_values.read(published), setting) if published else pd.DataFrame(columns=list(published_values.COLUMNS))
    table = reproduction.annotate(table, paper)
    tables.write(table[tables.CORRELATION.names], out_table, tables.CORRELATION, "correlation")
    compared = reproduction.compare(table, paper, gran)
    if out_reproduction is not None:
        tables.write(compared, out_reproduction, tables.REPRODUCTION, "reproduction")
    if out_reproduction_markdown is not None:
        with atomic_path(out_reproduction_markdown) as tmp:
            tmp.write_text(reproduction.markdown(setting, compared, Path(published).name if published else None))
    log(f"{setting}: {len(paper)} published values, {int(compared['inside'].fillna(False).sum())} of {len(compared)} comparisons inside our interval")
    tables.write(gran, out_granulated, tables.GRANULATED, "granulated")
    kept = len(analysis.kept_models(metrics_, max_train_error))
    with atomic_path(out_markdown) as tmp:
        tmp.write_text(correlation_markdown(setting, table, gran, kept, len(models_), max_train_error))


def task_average(granulated: Sequence[tuple[str, Path]], out_table: Path, out_markdown: Path) -> None:
    """The PGDL score of every task (``(task, granulated table)`` in order) and its mean over tasks."""
    from sharpgen import task_average as average

    frames = {task: tables.read(path, tables.GRANULATED) for task, path in granulated}
    table = average.average(frames)
    tables.write(table, out_table, tables.TASK_AVERAGE, "task_average")
    with atomic_path(out_markdown) as tmp:
        tmp.write_text(average.markdown(table, list(frames)))
    means = table[table["setting"] == average.MEAN]
    log(f"{len(frames)} tasks: {len(means)} (definition, target) means -> {out_table}")


def drift_table(setting: str, metrics: Sequence[Path], published: Sequence[Path], threshold: float, out_table: Path, out_markdown: Path) -> None:
    """Evaluated (``metrics``: the aggregated table or one per job) vs published (per-job
    ``published``) accuracies, as Parquet and Markdown."""
    from sharpgen import drift

    evaluated = pd.concat([tables.read(p, tables.METRICS) for p in metrics], ignore_index=True)
    frames = [tables.read(p, tables.METRICS) for p in published]
    table = drift.drift(evaluated, pd.concat(frames, ignore_index=True), threshold)
    tables.write(table, out_table, tables.DRIFT, "drift")
    with atomic_path(out_markdown) as tmp:
        tmp.write_text(drift.markdown(setting, table, threshold))
    log(f"{setting}: {len(table)} (model, split) pairs, {len(drift.drifted_models(table))} models drifted by more than {threshold:g} points")
