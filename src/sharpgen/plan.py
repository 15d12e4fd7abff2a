"""What the workflow will compute, from the validated config: model sheets and definitions.

Pure and light (no torch), because the Snakefile calls it while building the job graph.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from typing import Any, Mapping

import pandas as pd

from sharpgen.sharpness.definition import Definition

VARIANTS = {
    "standard": (False, False),
    "adaptive": (True, False),
    "adaptive-lognorm": (True, True),
    "standard-lognorm": (False, True),
}
FAMILY_LISTS = ("variant", "rho", "m")


def gpu_request(device: str) -> int:
    """GPUs per heavy job: 1 when jobs will use CUDA, else 0 (a profile can override it).

    ``auto`` asks whether this machine has an NVIDIA driver, without importing torch.
    """
    if device == "auto":
        return int(os.path.exists("/dev/nvidiactl"))
    return int(device.startswith("cuda"))


def digits_model_id(arch: str, lr: float, batch_size: int, augment: bool, sam_rho: float, seed: int) -> str:
    """A readable, file-name-safe id that encodes every grid coordinate."""
    return f"{arch}-lr{lr:g}-bs{batch_size}-aug{int(augment)}-sam{sam_rho:g}-s{seed}"


def digits_sheet(zoo: Mapping[str, Any]) -> pd.DataFrame:
    """One row per model of the factorial training grid, in a deterministic order."""
    rows = []
    for arch, recipe in zoo["families"].items():
        for lr, bs, aug, sam, seed in itertools.product(recipe["lr"], zoo["batch_size"], zoo["augment"], zoo["sam_rho"], zoo["seeds"]):
            rows.append(
                {
                    "setting": "digits",
                    "model_id": digits_model_id(arch, lr, bs, aug, sam, seed),
                    "arch": arch,
                    "source": "train",
                    "optimizer": recipe.get("optimizer", "sgd"),
                    "lr": float(lr),
                    "batch_size": int(bs),
                    "augment": bool(aug),
                    "sam_rho": float(sam),
                    "weight_decay": float(recipe.get("weight_decay", 0.0005)),
                    "epochs": int(recipe.get("epochs", 20)),
                    "width": recipe.get("width"),
                    "seed": int(seed),
                }
            )
    sheet = pd.DataFrame(rows).astype({"width": "Int64"})
    duplicated = sheet["model_id"][sheet["model_id"].duplicated()]
    if len(duplicated):
        raise ValueError(f"config digits.zoo: repeated grid values give duplicate models {sorted(set(duplicated))}")
    return sheet


def job_of(model_id: str, shards: int) -> str:
    """The evaluation/sharpness job a model belongs to: itself (shards = 0) or a stable hash shard.

    Hashing keeps every model in its shard when models are added or removed, so a new model
    touches one shard job only.
    """
    if shards == 0:
        return model_id
    k = int(hashlib.sha256(model_id.encode()).hexdigest()[:8], 16) % shards
    return f"shard{k}of{shards}"


def mirrored(url: str, base_url: str | None) -> str:
    """``url`` with its prefix (everything up to the file name) replaced by ``base_url``."""
    if not base_url or not url:
        return url
    return f"{base_url.rstrip('/')}/{url.rsplit('/', 1)[-1]}"


def augreg_grid_sheet() -> pd.DataFrame:
    """The paper's 56 AugReg models from the documented name grid, for planning without index.csv.

    Same rows and columns as ``sharpgen.settings.augreg.select`` on the real index, but the
    index's accuracies are null: the published_metrics rule reads them from the downloaded
    index.csv at run time.
    """
    from sharpgen.settings import augreg

    names = [
        f"B_16-i1k-300ep-lr_0.001-aug_{aug}-wd_{wd}-do_{p}-sd_{p}--imagenet2012-steps_20k-lr_{lr}-res_224"
        for aug, wd, p, lr in itertools.product(augreg.AUGS, ("0.1", "0.03"), ("0.0", "0.1"), ("0.01", "0.03"))
    ]
    rows = []
    for name in sorted(names):
        meta = augreg.parse_name(name)
        rows.append({
            "setting": "augreg", "model_id": name, "arch": augreg.timm_arch("B_16", 224), "source": "download",
            "url": f"{augreg.BASE_URL}/{name}.npz", "filename": f"{name}.npz",
            **{k: meta[k] for k in ("aug", "wd", "do", "sd", "lr", "epochs", "adapt_lr", "adapt_res", "adapt_steps")},
            "upstream_best_val": float("nan"), "imagenet_minival_acc": float("nan"), "imagenet_acc": float("nan"),
        })
    return pd.DataFrame(rows)


CIFAR_OPTIONAL = ("epochs", "batch_size", "model_width", "label_noise", "train_acc", "test_acc", "cifar10c_acc")


def _cifar_columns(sheet: pd.DataFrame, where: str) -> pd.DataFrame:
    """Fill the optional columns of a CIFAR-10 sheet with nulls; reject columns no table types."""
    from sharpgen.tables import models_schema

    known = set(models_schema("cifar").names)
    unknown = sorted(set(sheet.columns) - known)
    if unknown:
        raise ValueError(f"config {where}: columns {unknown} are not known; allowed: {sorted(known)}")
    return sheet.assign(**{c: float("nan") for c in CIFAR_OPTIONAL if c not in sheet})


def model_sheet(setting: str, block: Mapping[str, Any]) -> pd.DataFrame:
    """The model sheet of one setting: identity, source and hyperparameters of every model.

    Paper settings: ``models_csv`` (cifar: the user's CSV; augreg: a downloaded index.csv,
    optional), ``models`` (first k), ``arch`` (replaces every model's architecture string, e.g.
    a tiny test model) and ``base_url`` (a mirror replacing the upstream URL prefixes).
    """
    if setting == "digits":
        return digits_sheet(block["zoo"])
    from sharpgen.settings import manifest  # the paper settings' manifests

    if setting == "augreg" and "models_csv" not in block:
        sheet = augreg_grid_sheet()
    else:
        sheet = manifest(setting, **({"index_path": block["models_csv"]} if "models_csv" in block else {}))
    if setting == "cifar":
        sheet = _cifar_columns(sheet, f"{setting}.models_csv ({block.get('models_csv')})")
    sheet = sheet.head(block["models"]) if "models" in block else sheet
    if "arch" in block:
        sheet = sheet.assign(arch=block["arch"])
    if block.get("base_url"):
        sheet = sheet.assign(url=[mirrored(u, block["base_url"]) for u in sheet["url"]])
    return sheet.reset_index(drop=True)


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


def setting_definitions(setting: str, block: Mapping[str, Any], grid: str) -> list[Definition]:
    """The definitions one setting computes under the chosen grid, checked against its n."""
    grids = block.get("grids", {})
    if grid not in grids:
        raise ValueError(f"config: grid {grid!r} is not defined for setting {setting!r}; add {setting}.grids.{grid} or choose one of {sorted(grids)}")
    defs = definitions(grids[grid], f"{setting}.grids.{grid}")
    n = block["sharpness"]["n"]
    for d in defs:
        if n % d.m:
            raise ValueError(f"config {setting}.sharpness.n = {n} is not a multiple of m = {d.m} (definition {d.id}); choose n as a multiple of every m")
    return defs
