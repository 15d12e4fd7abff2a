"""Rule of workflow/rules/figures.smk: error against sharpness for one definition."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sharpgen import analysis, tables


def plot(
    setting: str, definition: str, models: Path, metrics: Path, sharpness: Path, targets: Sequence[str],
    color: str, marker: str | None, max_train_error: float, outs: Sequence[Path], where: str | None = None,
) -> None:
    """One panel per target, one point per kept model; written as every path of ``outs`` (PNG, PDF).
    ``where`` (``column=value``) keeps the models of one group (e.g. ``family=resnet18``)."""
    from sharpgen.figures import plot_grid, save_figure

    models_ = tables.read(models, tables.models_schema(setting))
    metrics_ = tables.read(metrics, tables.METRICS)
    sharp = tables.read(sharpness, tables.SHARPNESS)
    title = f"{setting}: {definition}"
    if where:
        column, _, value = where.partition("=")
        if column not in models_.columns:
            raise ValueError(f"--where {where}: {column!r} is not a column of {models}")
        models_ = models_[models_[column].astype(str) == value]
        title = f"{setting} ({where}): {definition}"
    rows = sharp[(sharp["definition"] == definition) & sharp["model_id"].isin(models_["model_id"])]
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
    fig = plot_grid(frames, x="sharpness_loss", y="value", color=color, marker=marker, x_label="sharpness", suptitle=title)
    for out in outs:
        save_figure(fig, Path(out))
