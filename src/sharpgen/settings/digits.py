"""Setting "digits": the embedded default, a zoo trained here on scikit-learn's bundled digits.

Needs no download and no GPU. Data: a stored stratified train/test split of the 1,797 8x8
images and five corrupted copies of the test set (each alone and mixed). Models: one per point
of the factorial grid architecture family x learning rate x batch size x augmentation x SAM rho x
seed, trained by :mod:`sharpgen.training` and stored in sharpgen's checkpoint format.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from sharpgen.settings import Ref, Setting, register

_RECIPE = {
    "description": "How one architecture family is trained.",
    "type": "object",
    "additionalProperties": False,
    "required": ["lr"],
    "properties": {
        "optimizer": {"description": "sgd (with momentum 0.9) or adamw.", "enum": ["sgd", "adamw"], "default": "sgd"},
        "lr": {"description": "Peak learning rates (one-cycle schedule).", "type": "array", "items": {"type": "number", "exclusiveMinimum": 0}, "minItems": 1},
        "epochs": {"description": "Training epochs.", "type": "integer", "minimum": 1, "default": 20},
        "width": {"description": "Width (ResNet channels of the first stage; ViT embedding dimension, a multiple of its 4 heads); the architecture default when absent.", "type": "integer", "minimum": 4},
        "weight_decay": {"description": "Weight decay (decoupled for adamw).", "type": "number", "minimum": 0, "default": 0.0005},
    },
}


CLASS_COUNTS = (178, 182, 177, 183, 181, 182, 181, 179, 174, 180)  # images per digit in scikit-learn's set
SHIFTS = ("gaussian_noise", "blur", "translate", "rotate", "contrast", "mixed")  # sharpgen.data.shifts.shift_sets
VIT_HEADS = 4  # attention heads of the digits ViT (sharpgen.networks.architectures.build_model)


def model_id(arch: str, lr: float, batch_size: int, augment: bool, sam_rho: float, seed: int) -> str:
    """A readable, file-name-safe id that encodes every grid coordinate."""
    return f"{arch}-lr{lr:g}-bs{batch_size}-aug{int(augment)}-sam{sam_rho:g}-s{seed}"


# the data-free baselines of the default study (sharpgen.measures); the data-dependent ones follow
BASELINES = ("param_norm", "dist_init", "frobenius_sum", "frobenius_product", "spectral_sum", "spectral_product", "path_norm")


@register
class Digits(Setting):
    name = "digits"
    description = "The embedded default: scikit-learn's bundled handwritten digits, a zoo trained here."
    columns = (
        ("optimizer", "string"), ("lr", "float64"), ("batch_size", "int64"), ("augment", "bool"),
        ("sam_rho", "float64"), ("weight_decay", "float64"), ("epochs", "int64"), ("width", "int64"), ("seed", "int64"),
    )
    sheet_keys = ("zoo",)
    data_keys = ("data",)
    block_schema = {
        "data": {
            "description": "The stored split and the corrupted test sets.",
            "type": "object", "additionalProperties": False, "default": {},
            "properties": {
                "test_fraction": {"description": "Share of the images held out (stratified).", "type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1, "default": 0.3},
                "split_seed": {"description": "Seed of the train/test split.", "type": "integer", "default": 0},
                "shift_severity": {"description": "Severity 1-5 of the corrupted test sets.", "type": "integer", "minimum": 1, "maximum": 5, "default": 3},
                "shift_seed": {"description": "Seed of the corruptions and of the mixed set.", "type": "integer", "default": 0},
            },
        },
        "zoo": {
            "description": "The factorial grid of training hyperparameters; one model per combination and seed.",
            "type": "object", "additionalProperties": False, "default": {},
            "properties": {
                "families": {
                    "description": "Architecture families (resnet = pre-activation residual CNN, vit = SimpleViT) and their training recipes.",
                    "type": "object", "additionalProperties": False, "minProperties": 1,
                    "default": {
                        "resnet": {"optimizer": "sgd", "lr": [0.01, 0.05, 0.2], "epochs": 20, "width": 8, "weight_decay": 0.0005},
                        "vit": {"optimizer": "adamw", "lr": [0.001, 0.003, 0.01], "epochs": 60, "weight_decay": 0.05},
                    },
                    "properties": {"resnet": _RECIPE, "vit": _RECIPE},
                },
                "batch_size": {"description": "Training batch sizes.", "type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 1, "default": [32, 128]},
                "augment": {"description": "Train with light augmentation (shift, rotation) or not.", "type": "array", "items": {"type": "boolean"}, "minItems": 1, "default": [False, True]},
                "sam_rho": {"description": "SAM radius (0 = plain training).", "type": "array", "items": {"type": "number", "minimum": 0}, "minItems": 1, "default": [0.0, 0.05]},
                "seeds": {"description": "Training seeds; each adds a full copy of the grid.", "type": "array", "items": {"type": "integer"}, "minItems": 1, "default": [0]},
            },
        },
    }
    defaults = {"sharpness": {"shards": 6, "max_train_error": 0.05}, "figures": {"color": "lr", "marker": "augment"},
                "correlation": {"hyperparameters": ["lr"], "oracle": [0.01, 0.05]},
                "measures": [{"kind": k} for k in BASELINES] + [
                    {"kind": "inverse_margin"}, {"kind": "pacbayes_sigma", "samples": 2, "iters": 8},
                    {"kind": "hessian_trace", "adaptive": True, "samples": 2}],
                "curvature": {"models": 2}}

    def sheet(self, block: Mapping[str, Any]) -> pd.DataFrame:
        zoo = block["zoo"]
        rows = []
        for arch, recipe in zoo["families"].items():
            grid = itertools.product(recipe["lr"], zoo["batch_size"], zoo["augment"], zoo["sam_rho"], zoo["seeds"])
            for lr, bs, aug, sam, seed in grid:
                rows.append({
                    "setting": self.name, "model_id": model_id(arch, lr, bs, aug, sam, seed), "arch": arch,
                    "source": "train", "optimizer": recipe.get("optimizer", "sgd"), "lr": float(lr),
                    "batch_size": int(bs), "augment": bool(aug), "sam_rho": float(sam),
                    "weight_decay": float(recipe.get("weight_decay", 0.0005)), "epochs": int(recipe.get("epochs", 20)),
                    "width": recipe.get("width"), "seed": int(seed),
                })
        vit = zoo["families"].get("vit", {})
        if vit.get("width") is not None and vit["width"] % VIT_HEADS:
            raise ValueError(
                f"config digits.zoo.families.vit.width = {vit['width']}: the ViT width must be a multiple of its "
                f"{VIT_HEADS} attention heads (e.g. {vit['width'] - vit['width'] % VIT_HEADS + VIT_HEADS})"
            )
        return pd.DataFrame(rows).astype({"width": "Int64"})

    def evaluated_splits(self, block: Mapping[str, Any]) -> tuple[str, ...]:
        return ("train", "test", *(f"shift:{name}" for name in SHIFTS))

    def train_size(self, block: Mapping[str, Any]) -> int:
        """The stratified split sends round(test_fraction * count) of every class to test."""
        fraction = block["data"]["test_fraction"]
        return sum(c - int(round(fraction * c)) for c in CLASS_COUNTS)

    def subset_inputs(self, block: Mapping[str, Any], sheet: pd.DataFrame) -> dict[str, Ref]:
        return {"dataset": Ref("dataset")}

    def dataset(self, block: Mapping[str, Any], inputs: Mapping[str, Path]):
        from sharpgen.data.digits import digits_splits

        data = block["data"]
        return digits_splits(data["test_fraction"], data["split_seed"], data["shift_severity"], data["shift_seed"])

    def subset(self, block: Mapping[str, Any], n: int, seed: int, inputs: Mapping[str, Path]):
        """The first n of the stored train split (itself a seeded stratified split)."""
        from sharpgen import datasets

        return datasets.first_n(datasets.load(inputs["dataset"]), n)

    def test_subset(self, block: Mapping[str, Any], n: int, inputs: Mapping[str, Path]):
        """The first n (at most all) images of the stored test split."""
        from sharpgen import datasets

        x, y = datasets.load(inputs["dataset"])["test"]
        return x[:n].contiguous(), y[:n].contiguous()

    def augment_subset(self, block: Mapping[str, Any], x, seed: int):
        """The training augmentation of the zoo (shifts of up to 1 pixel, rotations up to 10 degrees)."""
        import torch

        from sharpgen.data.augment import augment_batch

        return augment_batch(x, torch.Generator().manual_seed(seed))

    def load_model(self, path: Path, arch: str, device):
        from sharpgen import checkpoint

        return checkpoint.load(path, device, arch)

    def initial_state(self, row: Mapping[str, Any], num_classes: int):
        from sharpgen.training import initial_model

        return initial_model(self._config(row), num_classes).state_dict()

    def load_initial_state(self, path: Path):
        from sharpgen import checkpoint

        return checkpoint.load_init(path)

    @staticmethod
    def _config(row: Mapping[str, Any]):
        from sharpgen.training import TrainConfig

        return TrainConfig(
            arch=row["arch"], lr=row["lr"], batch_size=row["batch_size"], augment=row["augment"],
            weight_decay=row["weight_decay"], sam_rho=row["sam_rho"], epochs=row["epochs"], seed=row["seed"],
            width=row["width"], optimizer=row["optimizer"],
        )

    def train(self, row: Mapping[str, Any], splits, device, on_epoch):
        from sharpgen.training import train

        x, y = splits["train"]
        return train(self._config(row), x, y, device, on_epoch=on_epoch)
