"""Setting "cifar": the authors' ResNet-18 / ViT models trained from scratch on CIFAR-10.

The checkpoints are not published at a stable URL, so the model sheet comes from a CSV the
user provides. Required columns: ``model_id, arch, location, lr, sam_rho, augment, randaug``
(``location`` is an http(s) URL or a local path; ``url`` or ``path`` are accepted as its name).
Optional: ``epochs``, ``batch_size``, ``model_width``, ``label_noise`` and published metrics.
``arch`` is ``"module:function"``, the import path of a zero-argument factory returning the
untrained ``nn.Module`` whose state dict the checkpoint holds. A checkpoint is a
``torch.save`` of either that state dict or ``{"last": state_dict, ...}`` (the authors' format).
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pandas as pd
import torch

SETTING = "cifar"
REQUIRED = ("model_id", "arch", "location", "lr", "sam_rho", "augment", "randaug")
NUMERIC = ("lr", "sam_rho", "epochs", "batch_size", "model_width", "label_noise")
BOOLEAN = ("augment", "randaug")
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._=+-]*")
_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}


def _as_bool(sheet_path: Path, column: str, values: pd.Series) -> pd.Series:
    text = values.astype(str).str.strip().str.lower()
    bad = sorted(set(text) - _TRUE - _FALSE)
    if bad:
        raise ValueError(f"{sheet_path}: column {column!r} must be true/false (or 1/0, yes/no), got {bad}")
    return text.isin(_TRUE)


def manifest(sheet_path: Path | None) -> pd.DataFrame:
    """Validate the user's CSV of CIFAR-10 models and return the model sheet."""
    if sheet_path is None:
        raise ValueError(
            "setting 'cifar' needs a CSV of your CIFAR-10 checkpoints (pass index_path); "
            f"required columns: {', '.join(REQUIRED)}"
        )
    sheet_path = Path(sheet_path)
    if not sheet_path.is_file():
        raise FileNotFoundError(f"CIFAR-10 model sheet {sheet_path} does not exist")
    raw = pd.read_csv(sheet_path, dtype=str, keep_default_na=False)
    raw = raw.rename(columns={c: "location" for c in ("url", "path", "url_or_path") if c in raw})
    missing = [c for c in REQUIRED if c not in raw.columns]
    if missing:
        raise ValueError(f"{sheet_path}: missing required columns {missing}; required: {list(REQUIRED)}")
    if raw.empty:
        raise ValueError(f"{sheet_path}: no models listed")
    bad_ids = [m for m in raw["model_id"] if not _SAFE_ID.fullmatch(m)]
    dups = sorted(raw["model_id"][raw["model_id"].duplicated()].unique())
    if bad_ids or dups:
        raise ValueError(f"{sheet_path}: model_id must be unique and filesystem-safe; bad {bad_ids}, duplicated {dups}")
    bad_arch = [a for a in raw["arch"] if ":" not in a]
    if bad_arch:
        raise ValueError(f"{sheet_path}: arch must be 'module:function' (a model factory), got {bad_arch}")
    sheet = raw.copy()
    for col in (c for c in NUMERIC if c in sheet):
        values = pd.to_numeric(sheet[col].replace("", None), errors="coerce")
        if values.isna().any():
            rows = list(sheet.loc[values.isna(), "model_id"])
            raise ValueError(f"{sheet_path}: column {col!r} must be numeric; empty or invalid for {rows}")
        sheet[col] = values
    for col in BOOLEAN:
        sheet[col] = _as_bool(sheet_path, col, sheet[col])
    is_url = sheet["location"].str.match(r"https?://")
    local = sheet["location"].where(~is_url)
    sheet.insert(0, "setting", SETTING)
    sheet["source"] = is_url.map({True: "download", False: "local"})
    sheet["url"] = sheet["location"].where(is_url, "")
    sheet["filename"] = [Path(p).name if isinstance(p, str) else f"{m}.pt"
                         for p, m in zip(local, sheet["model_id"])]
    sheet["path"] = [str((sheet_path.parent / p).resolve()) if isinstance(p, str) else ""
                     for p in local]
    return sheet.drop(columns="location")


def resolve_factory(arch: str):
    """Import the ``module:function`` model factory named by ``arch``."""
    module_name, _, func = arch.partition(":")
    try:
        return getattr(importlib.import_module(module_name), func)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"cannot import model factory {arch!r} (expected 'module:function'): {err}") from err


def load_model(path: Path, device: torch.device, arch: str) -> torch.nn.Module:
    """Build ``arch`` and load a checkpoint (plain state dict or the authors' ``{"last": ...}``)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "last" in state:
        state = state["last"]
    model = resolve_factory(arch)()
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ValueError(f"{path} does not match architecture {arch!r}: {err}") from err
    return model.to(device).eval()
