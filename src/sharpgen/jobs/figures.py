"""Rule of workflow/rules/figures.smk: error against sharpness for one definition."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from sharpgen import analysis, tables

# definition fields that do not tell a definition from its logit-normalised twin
_TWIN_FREE = ("definition", "variant", "logit_norm")


def twins(sharp: pd.DataFrame, definition: str) -> list[str]:
    """``definition`` and its twin with logit normalisation switched (when measured), the
    logit-normalised one first: the rows of a figure, top to bottom, as in the paper's Figures 2-4."""
    fields = [f.name for f in tables.DEFINITION_FIELDS if f.name not in _TWIN_FREE]
    defs = sharp.drop_duplicates("definition").set_index("definition")
    if definition not in defs.index:
        raise ValueError(f"no sharpness rows for definition {definition!r}")
    own = defs.loc[definition]
    same = (defs[fields] == own[fields]).all(axis=1) & (defs["logit_norm"] != own["logit_norm"])
    found = [definition, *defs.index[same][:1]]
    return sorted(found, key=lambda d: not bool(defs.loc[d, "logit_norm"]))


def plot(
    setting: str, definition: str, models: Path, metrics: Path, sharpness: Path, targets: Sequence[str],
    color: str, marker: str | None, max_train_error: float, outs: Sequence[Path], where: str | None = None,
) -> None:
    """One panel per target and one row per variant (with logit normalisation on top and without
    below, when both were measured), one point per kept model; written as every path of ``outs`` (PNG, PDF).
    ``color`` names a model column or a target (e.g. test_error); ``where`` (``column=value``)
    keeps the models of one group (e.g. ``family=resnet18``)."""
    from sharpgen.figures import plot_rows, save_figure, use_log_color

    models_ = tables.read(models, tables.models_schema(setting))
    metrics_ = tables.read(metrics, tables.METRICS)
    sharp = tables.read(sharpness, tables.SHARPNESS)
    title = f"{setting}: {definition}"
    if where:
        column, _, value = where.partition("=")
        if column not in models_.columns:
            raise ValueError(f"--where {where}: {column!r} is not a column of {models}")
        models_ = models_[models_[column].astype(str) == value]
        sharp = sharp[sharp["model_id"].isin(models_["model_id"])]
        title = f"{setting} ({where}): {definition}"
    if sharp[sharp["definition"] == definition].empty:
        raise ValueError(f"no sharpness rows for definition {definition!r} in {sharpness}")
    sharp = sharp[sharp["model_id"].isin(analysis.kept_models(metrics_, max_train_error))]
    if sharp.empty:
        raise ValueError(f"no model has training error <= {max_train_error}; raise config {setting}.sharpness.max_train_error")
    target_frame = analysis.targets(metrics_)
    wide = target_frame.pivot(index="model_id", columns="target", values="value").reset_index()
    base = models_.merge(wide.drop(columns=[c for c in wide if c in models_ and c != "model_id"]), on="model_id", how="left")
    if color not in base:
        raise ValueError(f"config {setting}.figures.color = {color!r} is neither a model column nor a target; choose from {sorted(base.columns)}")
    rows = {}
    for row_definition in twins(sharp, definition):
        defined = sharp[sharp["definition"] == row_definition]
        merged = base.merge(defined[["model_id", "sharpness_loss"]], on="model_id")
        variant = str(defined["variant"].iloc[0])
        rows[variant] = {}
        for target in targets:
            values = target_frame[target_frame["target"] == target][["model_id", "value"]]
            rows[variant][target.replace("_", " ")] = merged.merge(values, on="model_id")
    log_color = use_log_color(base[color].to_numpy(dtype=float))
    fig = plot_rows(rows, x="sharpness_loss", y="value", color=color, marker=marker, x_label="sharpness",
                    log_color=log_color, suptitle=title)
    for out in outs:
        save_figure(fig, Path(out))


def plot_captures(
    setting: str, hyperparameter: str, models: Path, metrics: Path, sharpness: Path, max_train_error: float, outs: Sequence[Path],
) -> None:
    """What sharpness captures: every definition against ``hyperparameter`` (e.g. the learning
    rate), one panel per definition, coloured by the test error; titles give tau(lr, sharpness)."""
    from sharpgen.figures import plot_grid, save_figure

    models_ = tables.read(models, tables.models_schema(setting))
    if hyperparameter not in models_.columns:
        raise ValueError(f"config {setting}.correlation.hyperparameters names {hyperparameter!r}, not a model column; choose from {sorted(models_.columns)}")
    metrics_ = tables.read(metrics, tables.METRICS)
    sharp = tables.read(sharpness, tables.SHARPNESS)
    kept = analysis.kept_models(metrics_, max_train_error)
    test = metrics_[metrics_["split"] == "test"][["model_id", "error"]].rename(columns={"error": "test_error"})
    base = models_[models_["model_id"].isin(kept)][["model_id", hyperparameter]].merge(test, on="model_id")
    base[hyperparameter] = base[hyperparameter].astype(float)
    frames = {}
    for definition, rows in sharp.groupby("definition", sort=True):
        frames[definition] = base.merge(rows[["model_id", "sharpness_loss"]], on="model_id")
    if not frames or all(f.empty for f in frames.values()):
        raise ValueError(f"no sharpness rows for the kept models of {setting} in {sharpness}")
    fig = plot_grid(
        frames, x=hyperparameter, y="sharpness_loss", color="test_error", marker=None, x_label=hyperparameter,
        log_color=False, suptitle=f"{setting}: sharpness against {hyperparameter}, colour = test error", y_label="sharpness",
    )
    for out in outs:
        save_figure(fig, Path(out))


def plot_ablation(setting: str, quantity: str, correlation: Path, sharpness: Path, targets: Sequence[str], outs: Sequence[Path]) -> None:
    """Appendix H: Kendall's tau-b (all models) against ``quantity`` (m, n_iters or data), one line
    per group of definitions equal in everything else, one panel per target."""
    from sharpgen import plan
    from sharpgen.figures import save_figure
    from sharpgen.log import log
    from sharpgen.sharpness import Definition
    from sharpgen.theory_plots import plot_ablation as draw

    sharp = tables.read(sharpness, tables.SHARPNESS)
    fields = [f.name for f in tables.DEFINITION_FIELDS if f.name not in ("definition", "variant")]
    rows = sharp.drop_duplicates("definition")[fields].to_dict("records")
    definitions = [Definition.from_dict({k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}) for r in rows]
    groups = plan.ablation_groups(definitions, quantity)
    if not groups:
        raise ValueError(f"{sharpness}: no definitions of {setting} differ only in {quantity}; add a grid family with a list of {quantity}")
    tau = tables.read(correlation, tables.CORRELATION)
    tau = tau[(tau["subgroup"] == "all") & tau["target"].isin(targets)]
    lines = []
    for group in groups:
        label = f"{group[0].algorithm} {group[0].norm} {group[0].variant} rho={group[0].rho:g}"
        for d in group:
            for target, value in tau[tau["definition"] == d.id][["target", "tau_b"]].itertuples(index=False):
                lines.append({"line": label, "value": getattr(d, quantity), "target": target, "tau_b": value})
                log(f"{label} {quantity}={getattr(d, quantity)} {target}: tau_b = {value:.3f}")
    fig = draw(pd.DataFrame(lines), quantity, f"{setting}: Kendall's tau against {quantity} (appendix H)")
    for out in outs:
        save_figure(fig, Path(out))
