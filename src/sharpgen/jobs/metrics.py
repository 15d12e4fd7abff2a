"""Rules of workflow/rules/metrics.smk: loss and error evaluated here, or read from publications."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from sharpgen import settings, tables
from sharpgen.log import log

Model = tuple[str, Path, str]  # model id, checkpoint, architecture string


def evaluate_models(setting: str, models: Sequence[Model], dataset: Path, threads: int, out: Path, precision: str = "fp32") -> None:
    """Loss and error of every model on every split of the setting's evaluation data."""
    from sharpgen import datasets
    from sharpgen.device import job_device
    from sharpgen.evaluate import finite_loss, loss_and_error
    from sharpgen.loading import load_checked
    from sharpgen.progress import Progress

    device = job_device(threads, precision)
    setting_ = settings.get(setting)
    splits = {name: (x[: setting_.eval_sizes.get(name)], y[: setting_.eval_sizes.get(name)]) for name, (x, y) in datasets.load(dataset).items()}
    progress = Progress("evaluate", len(models), unit="model")
    rows = []
    heads = settings.get(setting).heads()
    for model_id, path, arch in models:
        model = load_checked(setting, model_id, path, arch, device)
        for split, (x, y) in splits.items():
            loss, error = finite_loss(*loss_and_error(model, x, y, device, head=heads.get(split)), model_id, split, path)
            rows.append({"setting": setting, "model_id": model_id, "split": split, "loss": loss, "error": error, "n_examples": len(y)})
        summary = {r["split"]: r["error"] for r in rows if r["model_id"] == model_id}
        progress.step(f"{model_id}: train error {summary.get('train', float('nan')):.4f}, test error {summary.get('test', float('nan')):.4f}")
    tables.write(pd.DataFrame(rows), out, tables.METRICS, "metrics")


def published_metrics(setting: str, models_table: Path, model_ids: Sequence[str], inputs: Mapping[str, Path], out: Path) -> None:
    """The metrics rows of the collection's published accuracies for ``model_ids``."""
    sheet = tables.read(models_table, tables.models_schema(setting))
    sheet = sheet[sheet["model_id"].isin(model_ids)]
    missing = sorted(set(model_ids) - set(sheet["model_id"]))
    if missing:
        raise ValueError(f"{models_table} lacks models {missing}")
    frame = settings.get(setting).published_metrics(sheet, inputs)
    tables.write(frame, out, tables.METRICS, "metrics")
    log(f"{setting}: {len(frame)} published metrics rows for {len(model_ids)} models")
