"""What the workflow will compute, from the validated config: model sheets, jobs and definitions.

Light (no torch, timm or transformers), because the Snakefile calls it while building the job
graph; every setting-specific answer comes from the setting's module.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Mapping
from typing import Any

import pandas as pd

from sharpgen import settings
from sharpgen.settings.base import SHEET_COLUMNS, SHIFT_PREFIX, SOURCES
from sharpgen.sharpness.definition import Definition

VARIANTS = {
    "standard": (False, False),
    "adaptive": (True, False),
    "adaptive-lognorm": (True, True),
    "standard-lognorm": (False, True),
}
FAMILY_LISTS = ("variant", "rho", "m")


def project(block: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """The part of a block under ``keys`` (what one rule's output depends on)."""
    return {k: block[k] for k in keys if k in block}


def model_sheet(name: str, block: Mapping[str, Any]) -> pd.DataFrame:
    """The model sheet of setting ``name``, checked: the declared columns, unique ids, known sources."""
    setting = settings.get(name)
    sheet = setting.sheet(block)
    expected = [*SHEET_COLUMNS, *(c for c, _ in setting.columns)]
    if list(sheet.columns) != expected:
        missing = [c for c in expected if c not in sheet.columns]
        extra = [c for c in sheet.columns if c not in expected]
        if missing or extra:
            raise ValueError(f"model sheet of setting {name!r}: missing columns {missing}, undeclared columns {extra}")
        sheet = sheet[expected]
    duplicated = sorted(set(sheet["model_id"][sheet["model_id"].duplicated()]))
    if duplicated:
        raise ValueError(f"config {name}: repeated values give duplicate models {duplicated}")
    bad = sorted(set(sheet["source"]) - set(SOURCES))
    if bad:
        raise ValueError(f"model sheet of setting {name!r}: unknown sources {bad}; expected {SOURCES}")
    stored = sheet[sheet["source"] != "train"]
    twice = stored[stored.duplicated(["source", "filename"], keep=False)] if len(stored) else stored
    if len(twice):
        raise ValueError(
            f"config {name}: models {sorted(twice['model_id'])} share checkpoint file names "
            f"{sorted(set(twice['filename']))}; give every checkpoint its own file name"
        )
    return sheet.reset_index(drop=True)


def downloads(name: str, block: Mapping[str, Any], sheet: pd.DataFrame) -> dict[str, str]:
    """File name -> URL of everything setting ``name`` downloads: its extra files and checkpoints."""
    out = dict(settings.get(name).downloads(block))
    rows = sheet[sheet["source"] == "download"]
    if rows.empty:
        return out
    clash = sorted(set(out) & set(rows["filename"]))
    if clash:
        raise ValueError(f"config {name}: checkpoint file names {clash} clash with the setting's other downloads; rename the checkpoints")
    return {**out, **dict(zip(rows["filename"], rows["url"]))}


def job_of(model_id: str, shards: int) -> str:
    """The evaluation/sharpness job a model belongs to: itself (shards = 0) or a stable hash shard.

    Hashing keeps every model in its shard when models are added or removed, so a new model
    touches one shard job only.
    """
    if shards == 0:
        return model_id
    k = int(hashlib.sha256(model_id.encode()).hexdigest()[:8], 16) % shards
    return f"shard{k}of{shards}"


def jobs(sheet: pd.DataFrame, shards: int) -> dict[str, list[str]]:
    """Job name -> model ids, for the per-job evaluation and sharpness rules."""
    out: dict[str, list[str]] = {}
    for model_id in sheet["model_id"]:
        out.setdefault(job_of(model_id, shards), []).append(model_id)
    return dict(sorted(out.items()))


def definitions(families: list[Mapping[str, Any]], where: str) -> list[Definition]:
    """Expand families (list-valued variant, rho, m) into unique definitions, in config order."""
    out: dict[str, Definition] = {}
    for i, family in enumerate(families):
        lists = {key: family[key] if isinstance(family.get(key), list) else [family[key]] for key in FAMILY_LISTS if key in family}
        fixed = {k: v for k, v in family.items() if k not in FAMILY_LISTS}
        for combo in itertools.product(*lists.values()):
            values = dict(zip(lists, combo))
            adaptive, logit_norm = VARIANTS[values.pop("variant")]
            try:
                d = Definition.from_dict({**fixed, **values, "adaptive": adaptive, "logit_norm": logit_norm})
            except ValueError as error:
                raise ValueError(f"config {where}[{i}]: {error}") from None
            out.setdefault(d.id, d)
    return list(out.values())


def setting_definitions(name: str, block: Mapping[str, Any], grid: str) -> list[Definition]:
    """The definitions one setting computes under the chosen grid, checked against its n."""
    grids = block.get("grids", {})
    if grid not in grids:
        raise ValueError(f"config: grid {grid!r} is not defined for setting {name!r}; add {name}.grids.{grid} or choose one of {sorted(grids)}")
    defs = definitions(grids[grid], f"{name}.grids.{grid}")
    n = block["sharpness"]["n"]
    for d in defs:
        if n % d.m:
            raise ValueError(f"config {name}.sharpness.n = {n} is not a multiple of m = {d.m} (definition {d.id}); choose n as a multiple of every m")
    return defs


def check_block(name: str, block: Mapping[str, Any], sheet: pd.DataFrame) -> None:
    """Errors that would otherwise surface after all compute: unknown columns and targets, n too large."""
    setting = settings.get(name)
    columns = list(sheet.columns)
    named = [("figures.color", block["figures"]["color"]), ("figures.marker", block["figures"]["marker"])]
    named += [(f"correlation.{key}", c) for key in ("group_by", "axes") for c in block["correlation"][key]]
    for key, column in named:
        if column is not None and column not in columns:
            raise ValueError(f"config {name}.{key}: {column!r} is not a column of the {name} model sheet; columns: {columns}")
    targets = block["figures"]["targets"]
    bad = [t for t in targets if not t.endswith("_error")]
    published = block["metrics"] == "published"
    splits = set(setting.published.values()) if published else setting.evaluated_splits(block)
    if splits is not None:
        known = {f"{split.removeprefix(SHIFT_PREFIX)}_error" for split in set(splits) - {"train"}}
        known |= {"gen_gap_error"} if {"train", "test"} <= set(splits) else set()
        bad += [t for t in targets if t not in known and t not in bad]
    if bad:
        raise ValueError(
            f"config {name}.figures.targets: unknown target(s) {bad}; targets are test_error, <shift>_error and "
            "gen_gap_error, for metrics the setting has"
        )
    n, size = block["sharpness"]["n"], setting.train_size(block)
    if size is not None and n > size:
        raise ValueError(f"config {name}.sharpness.n = {n} exceeds the {size} training examples of setting {name}; lower it")
