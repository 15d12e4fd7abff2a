"""Commands of the paper's settings: download, import-checkpoint, prepare-paper-data,
prepare-paper-eval, published-metrics, paper-sheet. ``register(add)`` adds them to ``sharpgen.cli``'s parser.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Callable


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cmd_download(a: argparse.Namespace) -> None:
    from sharpgen.download import download

    last = [-1]

    def progress(done: int, total: int | None) -> None:
        step = done >> 27  # a line every 128 MiB
        if step != last[0]:
            last[0] = step
            log(f"{done / 2**20:.0f} MiB" + (f" of {total / 2**20:.0f} MiB" if total else ""))

    download(a.url, Path(a.out), sha256=a.sha256, progress=progress)
    log(f"{a.url} -> {a.out}")


def cmd_import_checkpoint(a: argparse.Namespace) -> None:
    source = Path(a.source)
    if not source.is_file():
        raise FileNotFoundError(
            f"checkpoint of model {a.model_id} not found at {source} (column url/path of config "
            f"{a.setting}.models_csv); put the file there or correct the CSV"
        )
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.unlink(missing_ok=True)
    os.symlink(source.resolve(), tmp)
    os.replace(tmp, out)
    log(f"{source} -> {out} (symbolic link)")


def cmd_prepare_paper_data(a: argparse.Namespace) -> None:
    from sharpgen import datasets, paper

    if a.setting in ("augreg", "soups"):
        subset = paper.imagenet_subset(a.setting, a.data_root, a.arch, a.n)
    elif a.setting == "bert":
        subset = paper.mnli_subset(a.data_root, paper.bert_vocab(Path(a.checkpoint)), a.n)
    elif a.setting == "cifar":
        subset = paper.cifar_subset(Path(a.archive), a.n)
    else:
        raise ValueError(f"prepare-paper-data: unknown setting {a.setting!r}")
    datasets.save({"sharpness": subset}, a.out)
    log(f"{a.setting}: sharpness subset = first {a.n} training examples, inputs {tuple(subset[0].shape)}")


def cmd_prepare_paper_eval(a: argparse.Namespace) -> None:
    from sharpgen import datasets, paper

    if a.setting != "cifar":
        raise ValueError(f"not supported yet for {a.setting}: use {a.setting}.metrics: published")
    splits = paper.cifar_splits(Path(a.archive), a.data_root)
    datasets.save(splits, a.out)
    log("cifar: " + ", ".join(f"{k}={len(v[1])}" for k, v in splits.items()))


def cmd_published_metrics(a: argparse.Namespace) -> None:
    import pandas as pd

    from sharpgen import paper, tables

    sheet = tables.read(a.models, tables.models_schema(a.setting))
    sheet = sheet[sheet["model_id"].isin(a.model_ids)]
    missing = sorted(set(a.model_ids) - set(sheet["model_id"]))
    if missing:
        raise ValueError(f"{a.models} lacks models {missing}")
    index = None
    if a.index:
        from sharpgen.settings.augreg import read_index

        index = read_index(Path(a.index))
    frame = paper.published_metrics(a.setting, sheet, index)
    tables.write(pd.DataFrame(frame), a.out, tables.METRICS, "metrics")
    log(f"{a.setting}: {len(frame)} published metrics rows for {len(a.model_ids)} models")


def register(add: Callable[[str, Callable, str], argparse.ArgumentParser]) -> None:
    """Add the paper settings' commands with ``add(name, func, help)`` of ``sharpgen.cli``."""
    s = add("download", cmd_download, "download one file (resumable, atomic)")
    s.add_argument("--url", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--sha256", default=None)

    s = add("import-checkpoint", cmd_import_checkpoint, "link a user's local checkpoint into results/downloads")
    for name in ("setting", "model-id", "source", "out"):
        s.add_argument(f"--{name}", required=True)

    s = add("prepare-paper-data", cmd_prepare_paper_data, "the sharpness subset of a paper setting")
    s.add_argument("--setting", required=True)
    s.add_argument("--n", type=int, required=True)
    s.add_argument("--data-root", default="", help="config <setting>.data_root")
    s.add_argument("--arch", default=None, help="augreg, soups: the architecture whose eval transform applies")
    s.add_argument("--checkpoint", default=None, help="bert: a checkpoint whose vocab.txt tokenises")
    s.add_argument("--archive", default=None, help="cifar: cifar-10-python.tar.gz")
    s.add_argument("--out", required=True)

    s = add("prepare-paper-eval", cmd_prepare_paper_eval, "evaluation sets of a paper setting (cifar)")
    s.add_argument("--setting", required=True)
    s.add_argument("--data-root", default="")
    s.add_argument("--archive", required=True)
    s.add_argument("--out", required=True)

    s = add("published-metrics", cmd_published_metrics, "metrics table from a collection's published accuracies")
    s.add_argument("--setting", required=True)
    s.add_argument("--models", required=True, help="the setting's models table")
    s.add_argument("--model-ids", nargs="+", required=True)
    s.add_argument("--index", default=None, help="augreg: the AugReg index.csv")
    s.add_argument("--out", required=True)

    _register_sheet(add)


def cmd_paper_sheet(a: argparse.Namespace) -> None:
    """The models table of a paper setting, rebuilt from its config block.

    The sheet is not passed on the command line (the digits rule's way): BERT's 100 x 45
    sheet as JSON exceeds the kernel's 128 KiB limit on one argument.
    """
    import json

    from sharpgen import plan, tables

    sheet = plan.model_sheet(a.setting, json.loads(a.block))
    tables.write(sheet, a.out, tables.models_schema(a.setting), "models")
    log(f"{a.setting}: {len(sheet)} models -> {a.out}")


def _register_sheet(add: Callable[[str, Callable, str], argparse.ArgumentParser]) -> None:
    s = add("paper-sheet", cmd_paper_sheet, "the models table of a paper setting, from its config block")
    s.add_argument("--setting", required=True)
    s.add_argument("--block", required=True, help="the setting's config block as JSON")
    s.add_argument("--out", required=True)
