"""Setting "cifar": the authors' ResNet-18 / ViT models trained from scratch on CIFAR-10.

The checkpoints are not published at a stable URL, so the model sheet comes from a CSV the
user provides. Required columns: ``model_id, arch, location, lr, sam_rho, augment, randaug``
(``location`` is an http(s) URL or a local path; ``url`` or ``path`` are accepted as its name).
Optional: ``epochs``, ``batch_size``, ``model_width``, ``label_noise`` and published metrics.
``arch`` is ``"module:function"``, the import path of a zero-argument factory returning the
untrained ``nn.Module`` whose state dict the checkpoint holds (the paper's two families:
``sharpgen.networks.architectures:preact_resnet18`` and ``...:simple_vit``). A checkpoint is a
``torch.save`` of either that state dict or ``{"last": state_dict, ...}`` (the authors' format).
Data: CIFAR-10 (downloaded) for training and sharpness; CIFAR-10-C under ``data_root`` for
``metrics: evaluate``.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from sharpgen.settings import Collection, Ref, register
from sharpgen.settings.base import SHIFT_PREFIX, data_root

SETTING = "cifar"
ARCHIVE = "cifar-10-python.tar.gz"
TRAIN_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10C_LAYOUT = "CIFAR-10-C: <data_root>/CIFAR-10-C/<corruption>.npy and labels.npy"
OPTIONAL = ("epochs", "batch_size", "model_width", "label_noise", "train_acc", "test_acc", "cifar10c_acc")
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


def manifest(sheet_path: Path) -> pd.DataFrame:
    """Validate the user's CSV of CIFAR-10 models and return the model sheet."""
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


def load_model(path: Path, arch: str):
    """Build ``arch`` and load a checkpoint (plain state dict or the authors' ``{"last": ...}``)."""
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "last" in state:
        state = state["last"]
    model = resolve_factory(arch)()
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ValueError(f"{path} does not match architecture {arch!r}: {err}") from err
    return model


@register
class Cifar(Collection):
    name = SETTING
    description = "The authors' ResNet-18 and ViT models trained from scratch on CIFAR-10 (a CSV of your checkpoints)."
    columns = (
        ("url", "string"), ("filename", "string"), ("path", "string"), ("lr", "float64"), ("sam_rho", "float64"),
        ("augment", "bool"), ("randaug", "bool"), *((c, "float64") for c in OPTIONAL),
    )
    metric_sources = ("evaluate", "published")
    published = {"train_acc": "train", "test_acc": "test", "cifar10c_acc": f"{SHIFT_PREFIX}cifar10c"}
    block_schema = {
        **Collection.block_schema,
        "models_csv": {"description": "The CSV model sheet (model_id, arch, url or path, lr, sam_rho, augment, randaug; optional epochs, batch_size, model_width, label_noise, train_acc, test_acc, cifar10c_acc).", "type": "string"},
    }
    sheet_keys = (*Collection.sheet_keys, "models_csv")
    defaults = {"sharpness": {"max_train_error": 0.01}, "figures": {"color": "lr", "marker": "augment"},
                "correlation": {"hyperparameters": ["lr"]}}

    def collection(self, block: Mapping[str, Any]) -> pd.DataFrame:
        if "models_csv" not in block:
            raise ValueError(f"config cifar.models_csv is not set: give the CSV of your checkpoints (required columns: {', '.join(REQUIRED)})")
        sheet = manifest(Path(block["models_csv"]))
        known = {name for name, _ in self.columns} | {"setting", "model_id", "arch", "source"}
        unknown = sorted(set(sheet.columns) - known)
        if unknown:
            raise ValueError(f"config cifar.models_csv ({block['models_csv']}): columns {unknown} are not known; allowed: {sorted(known)}")
        return sheet.assign(**{c: float("nan") for c in OPTIONAL if c not in sheet})

    def downloads(self, block: Mapping[str, Any]) -> dict[str, str]:
        return {ARCHIVE: TRAIN_URL}  # the data set, never mirrored with the checkpoints

    def dataset_inputs(self, block: Mapping[str, Any], sheet: pd.DataFrame) -> dict[str, Ref]:
        return {"archive": Ref("download", ARCHIVE)}

    subset_inputs = dataset_inputs

    def dataset(self, block: Mapping[str, Any], inputs: Mapping[str, Path]):
        """CIFAR-10 train and test, CIFAR-10-C mixed (severity 5) under ``data_root``."""
        from sharpgen.data.sources.cifar10 import cifar10, cifar10c_mixed

        corrupted = data_root(self.name, block, "CIFAR-10-C", CIFAR10C_LAYOUT)
        splits = {
            "train": cifar10(inputs["archive"], "train"),
            "test": cifar10(inputs["archive"], "test"),
            f"{SHIFT_PREFIX}cifar10c": cifar10c_mixed(corrupted, severity=5, seed=0),
        }
        index = pd.DataFrame({
            "index": [i for name in ("train", "test") for i in range(len(splits[name][1]))],
            "split": [name for name in ("train", "test") for _ in range(len(splits[name][1]))],
        })
        return splits, index

    def subset(self, block: Mapping[str, Any], n: int, inputs: Mapping[str, Path]):
        """The first n CIFAR-10 training images in [0, 1] (the models normalise inside)."""
        from sharpgen.data.sources.cifar10 import cifar10

        x, y = cifar10(inputs["archive"], "train", n)
        if len(y) < n:
            raise ValueError(f"cifar.sharpness.n = {n} but {inputs['archive']} has only {len(y)} training images; lower it")
        return x, y

    def load_model(self, path: Path, arch: str, device):
        return load_model(path, arch).to(device).eval()
