"""Setting "soups": CLIP ViT-B/32 fine-tuned on ImageNet, 72 models of "model soups" (Wortsman et al. 2022).

A checkpoint ``model_{i}.pt`` is the state dict of model-soups' ``ModelWrapper``: the OpenAI
CLIP model under ``model.`` (text tower removed; the visual tower under ``model.visual.``) and
``classification_head.{weight,bias}`` (Linear 512 -> 1000) applied to L2-normalised image
features (:mod:`sharpgen.networks.clip`). ``model_0`` is the linear-probe initialisation (no
fine-tuning hyperparameters). Metadata shipped in ``data/`` (see ``data/PROVENANCE.md``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sharpgen.data import imagenet_sets
from sharpgen.settings import Collection, register
from sharpgen.settings.base import SHIFT_PREFIX

SETTING = "soups"
URL = "https://github.com/mlfoundations/model-soups/releases/download/v0.0.2/model_{i}.pt"
N_MODELS = 72
ARCH = "vit_base_patch32_clip_quickgelu_224"  # OpenAI CLIP uses QuickGELU
HPARAMS_FILE = "model-soups_hparam_info.json"
RESULTS_FILE = "model-soups_individual_model_results.jsonl"
_RESULT_COLUMNS = {
    "ImageNet": "imagenet_acc", "ImageNetV2": "imagenetv2_acc", "ImageNetSketch": "imagenet_sketch_acc",
    "ImageNetR": "imagenet_r_acc", "ObjectNet": "objectnet_acc", "ImageNetA": "imagenet_a_acc",
    "ImageNet2p": "imagenet_heldout2p_acc",
}


def _data_file(name: str) -> Path:
    return Path(str(files("sharpgen.settings") / "data" / name))


def read_hparams(path: Path) -> pd.DataFrame:
    """Fine-tuning hyperparameters per model; model_0 (LP init) gets NaN and ``is_init``."""
    raw = json.loads(Path(path).read_text())
    rows = []
    for name, info in raw.items():
        is_init = "lr" not in info
        rows.append({
            "model_id": name, "is_init": is_init,
            "lr": np.nan if is_init else float(info["lr"]),
            "wd": np.nan if is_init else float(info["wd"]),
            "epochs": pd.NA if is_init else int(info["epochs"]),
            "randaug": None if is_init else str(info["aug"]),
            "mixup": np.nan if is_init else float(info["mix"]),
            "label_smoothing": np.nan if is_init else float(info["smoothing"]),
        })
    out = pd.DataFrame(rows)
    out["epochs"] = out["epochs"].astype("Int64")
    return out


def read_results(path: Path) -> pd.DataFrame:
    """Published accuracies (fractions) per model from ``individual_model_results.jsonl``."""
    records = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    out = pd.DataFrame(records).rename(columns={"model_name": "model_id", **_RESULT_COLUMNS})
    return out[["model_id", *_RESULT_COLUMNS.values()]]


def manifest(hparams_path: Path | None = None, results_path: Path | None = None) -> pd.DataFrame:
    """The 72-model sheet with hyperparameters and published accuracies."""
    hp = read_hparams(hparams_path or _data_file(HPARAMS_FILE))
    res = read_results(results_path or _data_file(RESULTS_FILE))
    ids = [f"model_{i}" for i in range(N_MODELS)]
    for what, frame in (("hyperparameters", hp), ("results", res)):
        if sorted(frame["model_id"]) != sorted(ids):
            raise ValueError(f"soups {what} do not list exactly model_0..model_{N_MODELS - 1}")
    sheet = pd.DataFrame({
        "setting": SETTING, "model_id": ids, "arch": ARCH, "source": "download",
        "url": [URL.format(i=i) for i in range(N_MODELS)], "filename": [f"{m}.pt" for m in ids],
    })
    return sheet.merge(hp, on="model_id", validate="1:1").merge(res, on="model_id", validate="1:1")


@register
class Soups(Collection):
    name = SETTING
    description = "CLIP ViT-B/32 fine-tuned on ImageNet: the 72 models of model soups (Wortsman et al. 2022)."
    columns = (
        ("url", "string"), ("filename", "string"), ("is_init", "bool"), ("lr", "float64"), ("wd", "float64"),
        ("epochs", "int64"), ("randaug", "string"), ("mixup", "float64"), ("label_smoothing", "float64"),
        *((c, "float64") for c in _RESULT_COLUMNS.values()),
    )
    published_values = "published_values.csv"
    published = {
        "imagenet_acc": "test",
        **{c: f"{SHIFT_PREFIX}{c.removesuffix('_acc')}" for c in
           ("imagenetv2_acc", "imagenet_r_acc", "imagenet_sketch_acc", "objectnet_acc", "imagenet_a_acc")},
    }
    block_schema = {**Collection.block_schema, **imagenet_sets.BLOCK_SCHEMA}
    data_keys = ("data_root", "arch", "shifts", "train_n")
    defaults = {"figures": {"color": "lr", "marker": "randaug"}, "correlation": {"group_by": ["randaug"], "hyperparameters": ["lr"]}}

    def collection(self, block: Mapping[str, Any]) -> pd.DataFrame:
        return manifest()

    def subset(self, block: Mapping[str, Any], n: int, seed: int, inputs: Mapping[str, Path]):
        """A class-stratified sample of n ImageNet training images, with CLIP's transform."""
        from sharpgen.data.sources.imagenet import imagenet_subset

        return imagenet_subset(self.name, block, block.get("arch", ARCH), n, seed, "clip")

    def dataset(self, block: Mapping[str, Any], inputs: Mapping[str, Path]):
        """ImageNet val, the shift sets and a training sample, with CLIP's transform."""
        from sharpgen.data.sources.imagenet import imagenet_dataset

        return imagenet_dataset(self.name, block, block.get("arch", ARCH), "clip")

    def heads(self):
        from sharpgen.data.sources.imagenet import heads

        return heads()

    def load_model(self, path: Path, arch: str, device):
        from sharpgen.networks.clip import load_soup

        return load_soup(path, arch).to(device).eval()
