"""The paper's four model collections ("settings"): model sheets and checkpoint loaders.

Each setting is one module with ``manifest(...)`` and ``load_model(path, device, ...)``:
``augreg`` (ViT-B/16, ImageNet-1k), ``soups`` (CLIP ViT-B/32 fine-tunes), ``bert`` (BERT-base
on MNLI), ``cifar`` (the authors' CIFAR-10 models, from a user-provided CSV).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import pandas as pd
import torch

SETTINGS = ("augreg", "soups", "bert", "cifar")
SHEET_COLUMNS = ("setting", "model_id", "arch", "source", "url", "filename")


def setting_module(setting: str) -> ModuleType:
    """The module implementing ``setting``."""
    if setting not in SETTINGS:
        raise ValueError(f"unknown setting {setting!r}; choose one of {', '.join(SETTINGS)}")
    return importlib.import_module(f"sharpgen.settings.{setting}")


def manifest(setting: str, index_path: Path | None = None) -> pd.DataFrame:
    """Model sheet of ``setting``: one row per model, common columns first.

    ``index_path``: augreg, the downloaded AugReg ``index.csv`` (required); cifar, the user's
    model CSV (required); soups and bert, an alternative to the shipped metadata (optional).
    """
    sheet = setting_module(setting).manifest(index_path)
    missing = [c for c in SHEET_COLUMNS if c not in sheet.columns]
    if missing:
        raise ValueError(f"model sheet of setting {setting!r} lacks columns {missing}")
    rest = [c for c in sheet.columns if c not in SHEET_COLUMNS]
    return sheet[[*SHEET_COLUMNS, *rest]]


def load_model(setting: str, path: Path, device: torch.device, arch: str | None = None) -> torch.nn.Module:
    """Load one downloaded checkpoint of ``setting`` in eval mode on ``device``.

    ``arch`` is the sheet's ``arch`` value: optional for augreg (inferred from the file name) and
    soups, required for cifar, ignored for bert (the checkpoint carries ``bert_config.json``).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} for setting {setting!r} does not exist; download it first")
    module = setting_module(setting)
    if setting == "bert":
        return module.load_model(path, device)
    if setting == "cifar" and arch is None:
        raise ValueError("setting 'cifar' needs arch ('module:function' from the model sheet)")
    return module.load_model(path, device, arch) if arch is not None else module.load_model(path, device)
