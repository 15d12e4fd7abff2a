"""Rule of workflow/rules/figures.smk: error against sharpness for one definition."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sharpgen import analysis, tables


def plot(
    setting: str, definition: str, models: Path, metrics: Path, sharpness: Path, targets: Sequence[str],
    color: str, marker: str | None, max_train_error: float, outs: Sequence[Path],
) -> None:
    """One panel per target, one point per kept model; written as every path of ``outs`` (PNG, PDF)."""
    from sharpgen.figures import plot_grid, save_figure

    models_ = tables.read(models, tables.models_schema(setting))
    metrics_ = tables.read(metrics, tables.METRICS)
    sharp = tables.read(sharpness, tables.SHARPNESS)
    rows = sharp[sharp["definition"] == definition]
    if rows.empty:
        raise ValueError(f"no sharpness rows for definition {definition!r} in {sharpness}")
    rows = rows[rows["model_id"].isin(analysis.kept_models(metrics_, max_train_error))]
    if rows.empty:
        raise ValueError(f"no model has training error <= {max_train_error}; raise config {setting}.sharpness.max_train_error")
    base = models_.merge(rows[["model_id", "sharpness_loss"]], on="model_id")
    target_frame = analysis.targets(metrics_)
    frames = {}
    for target in targets:
        values = target_frame[target_frame["target"] == target][["model_id", "value"]]
        frames[target.replace("_", " ")] = base.merge(values, on="model_id")
    fig = plot_grid(frames, x="sharpness_loss", y="value", color=color, marker=marker, x_label="sharpness", suptitle=f"{setting}: {definition}")
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
