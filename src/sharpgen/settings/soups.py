"""Setting "soups": CLIP ViT-B/32 fine-tuned on ImageNet, 72 models of "model soups" (Wortsman et al. 2022).

A checkpoint ``model_{i}.pt`` is the state dict of model-soups' ``ModelWrapper``: the OpenAI
CLIP model under ``model.`` (text tower removed; the visual tower under ``model.visual.``) and
``classification_head.{weight,bias}`` (Linear 512 -> 1000) applied to L2-normalised image
features. ``model_0`` is the linear-probe initialisation (no fine-tuning hyperparameters).
Metadata shipped in ``data/`` (see ``data/PROVENANCE.md``).
"""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from timm.models.vision_transformer import checkpoint_filter_fn
from torch import nn

from sharpgen.settings.arch import create_timm

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


class SoupClassifier(nn.Module):
    """CLIP image tower -> L2 normalisation -> Linear head, as model-soups' ModelWrapper."""

    def __init__(self, visual: nn.Module, head: nn.Linear) -> None:
        super().__init__()
        self.visual = visual
        self.classification_head = head
        self.pretrained_cfg = dict(getattr(visual, "pretrained_cfg", {}))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.visual(x)
        return self.classification_head(features / features.norm(dim=-1, keepdim=True))


def load_model(path: Path, device: torch.device, arch: str = ARCH) -> SoupClassifier:
    """Load a model-soups ``model_{i}.pt`` into a timm CLIP tower plus the classification head."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    needed = ("model.visual.proj", "classification_head.weight", "classification_head.bias")
    missing = [k for k in needed if k not in state]
    if missing:
        raise ValueError(f"{path} is not a model-soups ModelWrapper state dict: missing keys {missing}")
    visual_sd = {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.visual.")}
    visual = create_timm(arch, num_classes=state["model.visual.proj"].shape[1])
    visual.load_state_dict(checkpoint_filter_fn(visual_sd, visual), strict=True)
    weight = state["classification_head.weight"]
    head = nn.Linear(weight.shape[1], weight.shape[0])
    head.load_state_dict({"weight": weight, "bias": state["classification_head.bias"]})
    return SoupClassifier(visual, head).to(device).eval()
