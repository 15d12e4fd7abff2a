"""Setting "augreg": ViT-B/16 trained from scratch on ImageNet-1k (Steiner et al. 2021, AugReg).

Upstream index: https://storage.googleapis.com/vit_models/augreg/index.csv, one row per
(upstream checkpoint, adaptation). The paper's 56 ViT-B/16 models are the ImageNet-1k grid
``B_16-i1k-300ep-lr_0.001-aug_{7}-wd_{2}-do_x-sd_x`` (7 aug x 2 wd x 2 (do,sd) = 28 upstreams).
28 x 2 = 56 needs one more binary factor; the index has two per upstream for ImageNet at
224 px: the fine-tune learning rates 0.01 and 0.03 (``--imagenet2012-steps_20k-lr_{lr}-res_224``).
Default choice (``kind="adapt"``): those 56 ImageNet fine-tunes at 224 px, both fine-tune lrs.
``kind="upstream"`` gives the 28 pre-adaptation checkpoints instead; ``adapt_resolution=384``
and ``adapt_lrs`` select other adaptations. Without ``models_csv`` in the config, the 56 models
are planned from the documented name grid and ``index.csv`` is downloaded for the accuracies.

``augreg.collection`` picks the upstream data set: ``i1k`` (from scratch on ImageNet-1k, the
paper's main 56), ``i21k`` (pre-trained on ImageNet-21k, then fine-tuned on ImageNet-1k: the
paper's appendix D; the same grid of names) or ``both`` (appendix E, 112 models).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from sharpgen.data import imagenet_sets
from sharpgen.settings import Collection, Ref, register
from sharpgen.settings.base import mirrored

SETTING = "augreg"
BASE_URL = "https://storage.googleapis.com/vit_models/augreg"
INDEX_URL = f"{BASE_URL}/index.csv"
INDEX_COLUMNS = (
    "name", "ds", "lr", "aug", "wd", "do", "sd", "best_val", "final_val", "final_test",
    "adapt_ds", "adapt_lr", "adapt_steps", "adapt_resolution", "adapt_final_val",
    "adapt_final_test", "params", "infer_samples_per_sec", "filename", "adapt_filename",
)
AUGS = ("none", "light0", "light1", "medium1", "medium2", "strong1", "strong2")
COLLECTIONS = {"i1k": ("i1k",), "i21k": ("i21k",), "both": ("i1k", "i21k")}
_UPSTREAM = re.compile(
    r"(?P<variant>[A-Za-z0-9+]+_\d+)-(?P<ds>[a-z0-9_]+)-(?P<epochs>\d+)ep-lr_(?P<lr>[\d.]+(?:e-?\d+)?)"
    r"-aug_(?P<aug>[a-z0-9]+)-wd_(?P<wd>[\d.]+)-do_(?P<do>[\d.]+)-sd_(?P<sd>[\d.]+)"
)
_ADAPT = re.compile(
    r"--(?P<adapt_ds>[a-z0-9_]+)-steps_(?P<adapt_steps>\d+)k-lr_(?P<adapt_lr>[\d.]+)"
    r"-res_(?P<adapt_res>\d+)"
)


def parse_name(filename: str) -> dict[str, object]:
    """Hyperparameters encoded in an AugReg file name (upstream, and adaptation if present)."""
    up = _UPSTREAM.match(filename)
    if up is None:
        raise ValueError(
            f"AugReg file name {filename!r} does not follow "
            "'<variant>-<ds>-<N>ep-lr_<lr>-aug_<aug>-wd_<wd>-do_<do>-sd_<sd>[--<adaptation>]'"
        )
    out: dict[str, object] = {
        "variant": up["variant"], "upstream_ds": up["ds"], "epochs": int(up["epochs"]),
        "lr": float(up["lr"]), "aug": up["aug"], "wd": float(up["wd"]),
        "do": float(up["do"]), "sd": float(up["sd"]),
    }
    ad = _ADAPT.fullmatch(filename[up.end():])
    if ad is not None:
        out |= {"adapt_ds": ad["adapt_ds"], "adapt_steps": int(ad["adapt_steps"]) * 1000,
                "adapt_lr": float(ad["adapt_lr"]), "adapt_res": int(ad["adapt_res"])}
    return out


def read_index(index_path: Path) -> pd.DataFrame:
    """Read the AugReg ``index.csv`` and check its columns."""
    index = pd.read_csv(index_path)
    missing = [c for c in INDEX_COLUMNS if c not in index.columns]
    if missing:
        raise ValueError(
            f"{index_path} is not the AugReg index.csv: missing columns {missing}. "
            f"Download it again from {INDEX_URL}."
        )
    return index


def timm_arch(variant: str, resolution: int) -> str:
    """timm model name for an AugReg variant such as 'B_16' at a given input resolution."""
    sizes = {"Ti": "tiny", "S": "small", "B": "base", "L": "large"}
    size, _, patch = variant.partition("_")
    if size not in sizes:
        raise ValueError(f"AugReg variant {variant!r} has no plain-ViT timm counterpart")
    return f"vit_{sizes[size]}_patch{patch}_{resolution}"


def select(
    index: pd.DataFrame,
    variant: str = "B_16",
    upstream_ds: str | Sequence[str] = "i1k",
    epochs: int = 300,
    kind: str = "adapt",
    adapt_ds: str = "imagenet2012",
    adapt_resolution: int = 224,
    adapt_lrs: Sequence[float] = (0.01, 0.03),
) -> pd.DataFrame:
    """Filter index rows to the chosen grid (one or more upstream data sets) and return the model sheet."""
    if kind not in ("adapt", "upstream"):
        raise ValueError(f"kind must be 'adapt' or 'upstream', got {kind!r}")
    ds_list = (upstream_ds,) if isinstance(upstream_ds, str) else tuple(upstream_ds)
    prefixes = tuple(f"{variant}-{ds}-{epochs}ep-" for ds in ds_list)
    rows = index[index["ds"].isin(ds_list) & index["filename"].str.startswith(prefixes)]
    if kind == "adapt":
        rows = rows[(rows["adapt_ds"] == adapt_ds)
                    & (rows["adapt_resolution"].astype(int) == adapt_resolution)
                    & rows["adapt_lr"].astype(float).isin(list(adapt_lrs))]
        names, val, test, res = (rows["adapt_filename"], rows["adapt_final_val"],
                                 rows["adapt_final_test"], adapt_resolution)
    else:
        rows = rows.drop_duplicates("filename")
        names, val, test, res = rows["filename"], rows["final_val"], rows["final_test"], 224
    hparams = pd.DataFrame([parse_name(n) for n in names], index=rows.index)
    sheet = pd.DataFrame({
        "setting": SETTING,
        "model_id": names.to_numpy(),
        "arch": timm_arch(variant, res),
        "source": "download",
        "url": [f"{BASE_URL}/{n}.npz" for n in names],
        "filename": [f"{n}.npz" for n in names],
    })
    for col in ("upstream_ds", "aug", "wd", "do", "sd", "lr", "epochs", "adapt_lr", "adapt_res", "adapt_steps"):
        if col in hparams:
            sheet[col] = hparams[col].to_numpy()
    sheet["upstream_best_val"] = rows["best_val"].astype(float).to_numpy()
    sheet["imagenet_minival_acc"] = val.astype(float).to_numpy()
    sheet["imagenet_acc"] = test.astype(float).to_numpy()
    return sheet.sort_values("model_id", ignore_index=True)


def grid_sheet(upstream_ds: Sequence[str] = ("i1k",)) -> pd.DataFrame:
    """The paper's 56 models per upstream data set from the documented name grid, for planning
    without index.csv.

    Same rows and columns as ``select`` on the real index, but the index's accuracies are null:
    the published metrics are read from the downloaded index.csv at run time.
    """
    names = [
        f"B_16-{ds}-300ep-lr_0.001-aug_{aug}-wd_{wd}-do_{p}-sd_{p}--imagenet2012-steps_20k-lr_{lr}-res_224"
        for ds, aug, wd, p, lr in itertools.product(upstream_ds, AUGS, ("0.1", "0.03"), ("0.0", "0.1"), ("0.01", "0.03"))
    ]
    rows = []
    for name in sorted(names):
        meta = parse_name(name)
        rows.append({
            "setting": SETTING, "model_id": name, "arch": timm_arch("B_16", 224), "source": "download",
            "url": f"{BASE_URL}/{name}.npz", "filename": f"{name}.npz",
            **{k: meta[k] for k in ("upstream_ds", "aug", "wd", "do", "sd", "lr", "epochs", "adapt_lr", "adapt_res", "adapt_steps")},
            "upstream_best_val": float("nan"), "imagenet_minival_acc": float("nan"), "imagenet_acc": float("nan"),
        })
    return pd.DataFrame(rows)


@register
class AugReg(Collection):
    name = SETTING
    description = "ViT-B/16 trained from scratch on ImageNet-1k with AugReg recipes (Steiner et al. 2021)."
    columns = (
        ("url", "string"), ("filename", "string"), ("upstream_ds", "string"), ("aug", "string"), ("wd", "float64"), ("do", "float64"),
        ("sd", "float64"), ("lr", "float64"), ("epochs", "int64"), ("adapt_lr", "float64"), ("adapt_res", "int64"),
        ("adapt_steps", "int64"), ("upstream_best_val", "float64"), ("imagenet_minival_acc", "float64"),
        ("imagenet_acc", "float64"),
    )
    published_values = "published_values.csv"
    published = {"imagenet_acc": "test"}
    block_schema = {
        **Collection.block_schema,
        "models_csv": {"description": "A downloaded AugReg index.csv (optional; without it the 56 models come from the documented name grid and index.csv is downloaded for the published accuracies).", "type": "string"},
        "collection": {"description": "Upstream training data of the ViT-B/16 models: i1k (from scratch on ImageNet-1k, the paper's 56), i21k (ImageNet-21k pre-training, the paper's appendix D) or both (appendix E); each then fine-tuned on ImageNet-1k at 224 px with lr 0.01 and 0.03.", "enum": list(COLLECTIONS), "default": "i1k"},
        **imagenet_sets.BLOCK_SCHEMA,
    }
    sheet_keys = (*Collection.sheet_keys, "models_csv", "collection")
    data_keys = ("data_root", "arch", "shifts", "train_n")
    defaults = {"figures": {"color": "sd", "marker": "aug"}, "correlation": {"group_by": ["aug"], "hyperparameters": ["adapt_lr"]}}

    def collection(self, block: Mapping[str, Any]) -> pd.DataFrame:
        upstream = COLLECTIONS[block.get("collection", "i1k")]
        if "models_csv" in block:
            return select(read_index(Path(block["models_csv"])), upstream_ds=upstream)
        return grid_sheet(upstream)

    def downloads(self, block: Mapping[str, Any]) -> dict[str, str]:
        return {} if "models_csv" in block else {"index.csv": mirrored(INDEX_URL, block.get("base_url"))}

    def published_inputs(self, block: Mapping[str, Any]) -> dict[str, Ref]:
        return {"index": Ref("file", block["models_csv"]) if "models_csv" in block else Ref("download", "index.csv")}

    def published_metrics(self, sheet: pd.DataFrame, inputs: Mapping[str, Path]) -> pd.DataFrame:
        """ImageNet val accuracy = the index's ``adapt_final_test``, matched on ``adapt_filename``."""
        index = read_index(Path(inputs["index"]))
        acc = index.drop_duplicates("adapt_filename").set_index("adapt_filename")["adapt_final_test"].astype(float)
        sheet = sheet.assign(imagenet_acc=sheet["model_id"].map(acc))
        unmatched = sorted(sheet.loc[sheet["imagenet_acc"].isna(), "model_id"])
        if unmatched:
            raise ValueError(f"augreg models not found in the AugReg index.csv: {unmatched[:3]} ({len(unmatched)} in all)")
        return super().published_metrics(sheet, inputs)

    def subset(self, block: Mapping[str, Any], n: int, seed: int, inputs: Mapping[str, Path]):
        """A class-stratified sample of n ImageNet training images, with vit_jax's transform."""
        from sharpgen.data.sources.imagenet import imagenet_subset

        return imagenet_subset(self.name, block, block.get("arch", timm_arch("B_16", 224)), n, seed, "vit_jax")

    def dataset(self, block: Mapping[str, Any], inputs: Mapping[str, Path]):
        """ImageNet val, the shift sets and a training sample, with vit_jax's transform."""
        from sharpgen.data.sources.imagenet import imagenet_dataset

        return imagenet_dataset(self.name, block, block.get("arch", timm_arch("B_16", 224)), "vit_jax")

    def heads(self):
        from sharpgen.data.sources.imagenet import heads

        return heads()

    def load_model(self, path: Path, arch: str, device):
        from sharpgen.networks.timm_arch import load_big_vision_npz

        return load_big_vision_npz(path, arch).to(device).eval()
