"""Rules of workflow/rules/models.smk: train a model here, download a file, link a local checkpoint."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from sharpgen import settings
from sharpgen.log import log


def train_model(
    setting: str, row: Mapping[str, Any], dataset: Path, threads: int, out_checkpoint: Path, out_history: Path,
    precision: str = "fp32",
) -> None:
    """Train the model of sheet row ``row`` on the setting's train split; save it and its curve."""
    from sharpgen import datasets, tables
    from sharpgen.device import job_device
    from sharpgen.progress import Progress

    device = job_device(threads, precision)
    progress = Progress(f"train {row['model_id']}", int(row["epochs"]), unit="epoch")

    def on_epoch(record: dict) -> None:
        progress.step(f"loss {record['train_loss']:.4f} error {record['train_error']:.4f} lr {record['lr']:.4g}")

    splits = datasets.load(dataset)
    setting_ = settings.get(setting)
    model, history = setting_.train(row, splits, device, on_epoch)
    frame = pd.DataFrame(history).assign(setting=setting, model_id=row["model_id"])
    tables.write(frame, out_history, tables.HISTORY, "history")
    num_classes = int(splits["train"][1].max()) + 1
    setting_.save_model(model.cpu(), row, out_checkpoint, num_classes, setting_.initial_state(row, num_classes))


def download(url: str, out: Path, lock: Path, trust_first: bool = False) -> None:
    """Download ``url`` to ``out`` (resumable, atomic, verified against ``lock``; a URL the lock
    lacks only when ``trust_first``), logging every 128 MiB."""
    from sharpgen.download import download as fetch

    last = [-1]

    def progress(done: int, total: int | None) -> None:
        step = done >> 27
        if step != last[0]:
            last[0] = step
            log(f"{done / 2**20:.0f} MiB" + (f" of {total / 2**20:.0f} MiB" if total else ""))

    fetch(url, out, progress=progress, lock=lock, trust_first=trust_first)
    log(f"{url} -> {out}")


def extract_archive(archive: Path, out: Path) -> None:
    """Extract ``archive`` into the folder of ``out`` (its record, written last), logging progress."""
    from sharpgen.archive import extract

    record = extract(archive, out.parent, progress=log)
    log(f"{archive} -> {out.parent}: {record['files']} files, {record['extracted_bytes'] / 2**20:.0f} MiB")


def import_checkpoint(setting: str, model_id: str, source: Path, out: Path) -> None:
    """Link the user's checkpoint ``source`` (column path of the model sheet) at ``out``."""
    if not source.is_file():
        raise FileNotFoundError(
            f"checkpoint of model {model_id} not found at {source} (column url/path of config "
            f"{setting}.models_csv); put the file there or correct the CSV"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.unlink(missing_ok=True)
    os.symlink(source.resolve(), tmp)
    os.replace(tmp, out)
    log(f"{source} -> {out} (symbolic link)")
