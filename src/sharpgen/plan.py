"""What the workflow will compute, from the validated config: model sheets and definitions.

Pure and light (no torch), because the Snakefile calls it while building the job graph.
"""

from __future__ import annotations

import itertools
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


def digits_model_id(arch: str, lr: float, batch_size: int, augment: bool, sam_rho: float, seed: int) -> str:
    """A readable, file-name-safe id that encodes every grid coordinate."""
    return f"{arch}-lr{lr:g}-bs{batch_size}-aug{int(augment)}-sam{sam_rho:g}-s{seed}"


def digits_sheet(zoo: Mapping[str, Any]) -> pd.DataFrame:
    """One row per model of the factorial training grid, in a deterministic order."""
    rows = []
    for arch, lr, bs, aug, sam, seed in itertools.product(
        zoo["arch"], zoo["lr"], zoo["batch_size"], zoo["augment"], zoo["sam_rho"], zoo["seeds"]
    ):
        rows.append(
            {
                "setting": "digits",
                "model_id": digits_model_id(arch, lr, bs, aug, sam, seed),
                "arch": arch,
                "source": "train",
                "lr": float(lr),
                "batch_size": int(bs),
                "augment": bool(aug),
                "sam_rho": float(sam),
                "weight_decay": float(zoo["weight_decay"]),
                "epochs": int(zoo["epochs"]),
                "seed": int(seed),
            }
        )
    sheet = pd.DataFrame(rows)
    duplicated = sheet["model_id"][sheet["model_id"].duplicated()]
    if len(duplicated):
        raise ValueError(f"config digits.zoo: repeated grid values give duplicate models {sorted(set(duplicated))}")
    return sheet


def model_sheet(setting: str, block: Mapping[str, Any]) -> pd.DataFrame:
    """The model sheet of one setting: identity, source and hyperparameters of every model."""
    if setting == "digits":
        return digits_sheet(block["zoo"])
    from sharpgen.settings import manifest  # the paper settings' manifests

    sheet = manifest(setting, **({"models_csv": block["models_csv"]} if "models_csv" in block else {}))
    return sheet.head(block["models"]) if "models" in block else sheet


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
