"""Rules of workflow/rules/data.smk: a setting's evaluation splits and its sharpness subset."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sharpgen import datasets, settings, tables
from sharpgen.atomic import atomic_path
from sharpgen.data.sample import histogram
from sharpgen.log import log


def prepare_dataset(setting: str, block: Mapping[str, Any], inputs: Mapping[str, Path], out_dataset: Path, out_split: Path) -> None:
    """Evaluation splits -> ``out_dataset``; where each example comes from -> ``out_split`` (Parquet)."""
    splits, index = settings.get(setting).dataset(block, inputs)
    datasets.save(splits, out_dataset)
    with atomic_path(out_split) as tmp:
        index.to_parquet(tmp, index=False)
    log(f"{setting}: " + ", ".join(f"{k}={len(v[1])}" for k, v in splits.items()))


def prepare_subset(setting: str, block: Mapping[str, Any], n: int, seed: int, inputs: Mapping[str, Path], out: Path, out_table: Path) -> None:
    """The n examples on which sharpness is measured -> ``out``; where each comes from -> ``out_table``."""
    setting_ = settings.get(setting)
    x, y, table = setting_.subset(block, n, seed, inputs)
    if len(table) != len(y) or not (table["label"].to_numpy() == y.numpy()).all():
        raise ValueError(f"setting {setting!r}: the subset table does not list the subset's {len(y)} examples")
    tables.write(table.assign(setting=setting), out_table, tables.SUBSET, "subset")
    splits = {"sharpness": (x, y)}
    test = setting_.test_subset(block, n, inputs)
    if test is not None:
        splits["sharpness_test"] = test
        log(f"{setting}: {len(test[1])} test examples for sharpness on test data")
    augmented = setting_.augment_subset(block, x, seed)
    if augmented is not None:
        splits["sharpness_augmented"] = (augmented, y)
    datasets.save(splits, out)
    log(f"{setting}: sharpness subset of {n} training examples, inputs {tuple(x.shape)}")
    log(f"{setting}: {histogram(y.numpy())}")
