"""What the workflow will compute, from the validated config: model sheets, jobs and definitions.

Light (no torch, timm or transformers), because the Snakefile calls it while building the job
graph; every setting-specific answer comes from the setting's module.
"""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
import re
from collections.abc import Mapping
from importlib.metadata import entry_points
from pathlib import Path
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
FAMILY_LISTS = ("variant", "rho", "m", "n_iters", "data")
ABLATIONS = ("m", "n_iters", "data")  # appendix H: tau against each, the other fields fixed
MEASURE_GROUP = "sharpgen.measures"  # entry-point group of measures from outside the package


def project(block: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """The part of a block under ``keys`` (what one rule's output depends on)."""
    return {k: block[k] for k in keys if k in block}


def model_sheet(name: str, block: Mapping[str, Any]) -> pd.DataFrame:
    """The model sheet of setting ``name``, checked: the declared columns, unique ids, known sources."""
    setting = settings.get(name)
    sheet = setting.sheet(block).assign(setting=name)  # a block of another name serves its kind
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


def archives(blocks: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Archive name -> URL over every setting (one download each, however many settings share it)."""
    out: dict[str, str] = {}
    owner: dict[str, str] = {}
    for name, block in blocks.items():
        for archive, url in settings.get(name).archives(block).items():
            if out.setdefault(archive, url) != url:
                raise ValueError(f"config {owner[archive]} and {name} fetch {archive} from different URLs ({out[archive]}, {url}); "
                                 "give their blocks the same base_url")
            owner.setdefault(archive, name)
    return out


def waiting_archives(name: str, block: Mapping[str, Any]) -> list[str]:
    """The archives of setting ``name`` not extracted yet: its models are known only after that."""
    from sharpgen.archive import is_extracted

    return [a for a in settings.get(name).archives(block) if not is_extracted(a)]


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


def arch_key(arch: str) -> str:
    """A file-name-safe key of an architecture string (a short hash keeps distinct strings apart)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", arch).strip("-")
    return safe if safe == arch else f"{safe[:60]}-{hashlib.sha256(arch.encode()).hexdigest()[:8]}"


def calibration_models(sheet: pd.DataFrame) -> dict[str, str]:
    """Architecture key -> the model calibrated for it (the first of that architecture in the sheet)."""
    out: dict[str, str] = {}
    for model_id, arch in zip(sheet["model_id"], sheet["arch"]):
        out.setdefault(arch_key(arch), model_id)
    return out


def _expand(families: list[Mapping[str, Any]], where: str) -> list[tuple[Definition, Mapping[str, Any] | None, int]]:
    """Every (definition, models selector, family index) of the families, in config order."""
    out = []
    for i, family in enumerate(families):
        lists = {key: family[key] if isinstance(family.get(key), list) else [family[key]] for key in FAMILY_LISTS if key in family}
        fixed = {k: v for k, v in family.items() if k not in (*FAMILY_LISTS, "models")}
        for combo in itertools.product(*lists.values()):
            values = dict(zip(lists, combo))
            adaptive, logit_norm = VARIANTS[values.pop("variant")]
            try:
                d = Definition.from_dict({**fixed, **values, "adaptive": adaptive, "logit_norm": logit_norm})
            except ValueError as error:
                raise ValueError(f"config {where}[{i}]: {error}") from None
            out.append((d, family.get("models"), i))
    return out


def definitions(families: list[Mapping[str, Any]], where: str) -> list[Definition]:
    """Expand families (list-valued variant, rho, m, n_iters, data) into unique definitions, in config order."""
    out: dict[str, Definition] = {}
    for d, _, _ in _expand(families, where):
        out.setdefault(d.id, d)
    return list(out.values())


def selected(sheet: pd.DataFrame, selector: Mapping[str, Any] | None, where: str) -> pd.Series:
    """Which models of ``sheet`` a family's ``models`` selector ({column: value or [values]}) picks (all without one)."""
    keep = pd.Series(True, index=sheet.index)
    for column, values in (selector or {}).items():
        if column not in sheet.columns:
            raise ValueError(f"config {where}.models: column {column!r} is not in the model sheet; choose from {sorted(sheet.columns)}")
        values = values if isinstance(values, list) else [values]
        keep &= sheet[column].isin(values)
    return keep


def model_definitions(name: str, block: Mapping[str, Any], grid: str, sheet: pd.DataFrame) -> dict[str, list[str]]:
    """Model id -> the ids of the definitions computed for it: those of every family of the grid
    whose ``models`` selector picks it (every family without a selector), in config order."""
    where = f"{name}.grids.{grid}"
    out: dict[str, dict[str, None]] = {m: {} for m in sheet["model_id"]}
    for d, selector, i in _expand(block.get("grids", {}).get(grid, []), where):
        for model_id in sheet.loc[selected(sheet, selector, f"{where}[{i}]"), "model_id"]:
            out[model_id].setdefault(d.id, None)
    return {m: list(ids) for m, ids in out.items()}


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


def used_definitions(defs: list[Definition], model_defs: Mapping[str, list[str]]) -> list[Definition]:
    """The definitions that at least one model takes, in order."""
    used = {i for ids in model_defs.values() for i in ids}
    return [d for d in defs if d.id in used]


def figure_views(sheet: pd.DataFrame, model_defs: Mapping[str, list[str]], split_by: str | None) -> dict[str, list[str]]:
    """``<column>=<value>`` -> the definitions of the models with that value (figures per group)."""
    if not split_by:
        return {}
    if split_by not in sheet.columns:
        raise ValueError(f"config figures.split_by = {split_by!r} is not a model-sheet column; choose from {sorted(sheet.columns)}")
    out: dict[str, list[str]] = {}
    for value, rows in sheet.groupby(split_by, sort=True):
        ids = dict.fromkeys(i for m in rows["model_id"] for i in model_defs[m])
        out[f"{split_by}={value}"] = list(ids)
    return out


def figure_definitions(definitions: list[Definition]) -> list[Definition]:
    """The definitions that get a figure: one per pair of twins that differ only in logit
    normalisation (the figure shows both as rows, the logit-normalised one on top, as the paper's
    Figures 2-4; it is named after the one without), and every definition without a twin."""
    import dataclasses

    ids = {d.id for d in definitions}
    return [d for d in definitions if not (d.logit_norm and dataclasses.replace(d, logit_norm=False).id in ids)]


def ablation_groups(definitions: list[Definition], quantity: str) -> list[list[Definition]]:
    """Groups of definitions equal in every field but ``quantity`` (one of ``ABLATIONS``), each
    ordered by that field (data: train, test, augmented), only groups of two or more, in config order."""
    if quantity not in ABLATIONS:
        raise ValueError(f"ablation quantity must be one of {list(ABLATIONS)}, got {quantity!r}")
    from sharpgen.sharpness.definition import DATA

    groups: dict[tuple, list[Definition]] = {}
    for d in definitions:
        key = tuple(sorted((k, v) for k, v in d.as_dict().items() if k != quantity))
        groups.setdefault(key, []).append(d)
    order = (lambda d: DATA.index(d.data)) if quantity == "data" else (lambda d: getattr(d, quantity))
    return [sorted(g, key=order) for g in groups.values() if len(g) > 1]


def ablations(definitions: list[Definition]) -> list[str]:
    """The quantities of ``ABLATIONS`` that some group of definitions varies alone (a figure each)."""
    return [q for q in ABLATIONS if ablation_groups(definitions, q)]


def check_block(name: str, block: Mapping[str, Any], sheet: pd.DataFrame) -> None:
    """Errors that would otherwise surface after all compute: unknown columns and targets, n too large.

    ``figures.color`` may name a model column or a target (e.g. test_error, as bert's figures).
    """
    setting = settings.get(name)
    columns = list(sheet.columns)
    published = block["metrics"] == "published"
    splits = set(setting.published.values()) if published else setting.evaluated_splits(block)
    known: set[str] | None = None
    if splits is not None:
        known = {f"{split.removeprefix(SHIFT_PREFIX)}_error" for split in set(splits) - {"train"}}
        known |= {"gen_gap_error"} if {"train", "test"} <= set(splits) else set()
    color = block["figures"]["color"]
    if color not in columns and not (color.endswith("_error") and (known is None or color in known)):
        raise ValueError(f"config {name}.figures.color: {color!r} is neither a column of the {name} model sheet nor a target; columns: {columns}")
    named = [("figures.marker", block["figures"]["marker"])]
    named += [(f"correlation.{key}", c) for key in ("group_by", "axes", "hyperparameters") for c in block["correlation"][key]]
    for key, column in named:
        for part in (column.split("+") if column else []):  # group_by entries a+b: combinations
            if part not in columns:
                raise ValueError(f"config {name}.{key}: {part!r} is not a column of the {name} model sheet; columns: {columns}")
    targets = block["figures"]["targets"]
    bad = [t for t in targets if not t.endswith("_error") or (known is not None and t not in known)]
    if bad:
        raise ValueError(
            f"config {name}.figures.targets: unknown target(s) {bad}; targets are test_error, <shift>_error and "
            "gen_gap_error, for metrics the setting has"
        )
    n, size = block["sharpness"]["n"], setting.train_size(block)
    if size is not None and n > size:
        raise ValueError(f"config {name}.sharpness.n = {n} exceeds the {size} training examples of setting {name}; lower it")


def measure_specs(name: str, block: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The block's measures, each of kind function resolved to ``module:function`` (an entry
    point of ``MEASURE_GROUP`` by its name) and stamped with its module's digest, so that a
    changed function reruns the measure jobs; its module is found, not imported."""
    out = []
    for i, spec in enumerate(block["measures"]):
        spec = dict(spec)
        if spec["kind"] == "function":
            where = f"config {name}.measures[{i}].function"
            target = spec.get("function")
            if not target:
                raise ValueError(f"{where}: kind function needs `function: module:function` (or an entry point of {MEASURE_GROUP})")
            if ":" not in target:
                points = {p.name: p.value for p in entry_points(group=MEASURE_GROUP)}
                if target not in points:
                    raise ValueError(f"{where}: {target!r} is neither module:function nor an entry point of group {MEASURE_GROUP} (installed: {sorted(points)})")
                spec = {"name": target, **spec, "function": points[target]}
            module = spec["function"].partition(":")[0]
            try:
                found = importlib.util.find_spec(module)
            except (ImportError, ValueError):
                found = None
            if found is None or not found.origin or not Path(found.origin).is_file():
                raise ValueError(f"{where}: module {module!r} of {spec['function']!r} is not importable (is it on PYTHONPATH or installed?)")
            spec["digest"] = hashlib.sha256(Path(found.origin).read_bytes()).hexdigest()[:16]
        out.append(spec)
    return out
