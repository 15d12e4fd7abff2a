"""Setting "augreg": ViT-B/16 trained from scratch on ImageNet-1k (Steiner et al. 2021, AugReg).

Upstream index: https://storage.googleapis.com/vit_models/augreg/index.csv, one row per
(upstream checkpoint, adaptation). The paper's 56 ViT-B/16 models are the ImageNet-1k grid
``B_16-i1k-300ep-lr_0.001-aug_{7}-wd_{2}-do_x-sd_x`` (7 aug x 2 wd x 2 (do,sd) = 28 upstreams).
28 x 2 = 56 needs one more binary factor; the index has two per upstream for ImageNet at
224 px: the fine-tune learning rates 0.01 and 0.03 (``--imagenet2012-steps_20k-lr_{lr}-res_224``).
Default choice (``kind="adapt"``): those 56 ImageNet fine-tunes at 224 px, both fine-tune lrs.
``kind="upstream"`` gives the 28 pre-adaptation checkpoints instead; ``adapt_resolution=384``
and ``adapt_lrs`` select other adaptations.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch

from sharpgen.settings.arch import create_timm

SETTING = "augreg"
BASE_URL = "https://storage.googleapis.com/vit_models/augreg"
INDEX_URL = f"{BASE_URL}/index.csv"
INDEX_COLUMNS = (
    "name", "ds", "lr", "aug", "wd", "do", "sd", "best_val", "final_val", "final_test",
    "adapt_ds", "adapt_lr", "adapt_steps", "adapt_resolution", "adapt_final_val",
    "adapt_final_test", "params", "infer_samples_per_sec", "filename", "adapt_filename",
)
AUGS = ("none", "light0", "light1", "medium1", "medium2", "strong1", "strong2")
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
    upstream_ds: str = "i1k",
    epochs: int = 300,
    kind: str = "adapt",
    adapt_ds: str = "imagenet2012",
    adapt_resolution: int = 224,
    adapt_lrs: Sequence[float] = (0.01, 0.03),
) -> pd.DataFrame:
    """Filter index rows to the chosen grid and return the model sheet."""
    if kind not in ("adapt", "upstream"):
        raise ValueError(f"kind must be 'adapt' or 'upstream', got {kind!r}")
    prefix = f"{variant}-{upstream_ds}-{epochs}ep-"
    rows = index[(index["ds"] == upstream_ds) & index["filename"].str.startswith(prefix)]
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
    for col in ("aug", "wd", "do", "sd", "lr", "epochs", "adapt_lr", "adapt_res", "adapt_steps"):
        if col in hparams:
            sheet[col] = hparams[col].to_numpy()
    sheet["upstream_best_val"] = rows["best_val"].astype(float).to_numpy()
    sheet["imagenet_minival_acc"] = val.astype(float).to_numpy()
    sheet["imagenet_acc"] = test.astype(float).to_numpy()
    return sheet.sort_values("model_id", ignore_index=True)


def manifest(index_path: Path | None) -> pd.DataFrame:
    """The paper's 56-model sheet from a downloaded ``index.csv``."""
    if index_path is None:
        raise ValueError(
            f"setting 'augreg' needs the AugReg index: download {INDEX_URL} and pass its path "
            "as index_path."
        )
    return select(read_index(Path(index_path)))


def load_model(path: Path, device: torch.device, arch: str | None = None) -> torch.nn.Module:
    """Build an untrained timm ViT for ``arch`` and fill it from a big_vision ``.npz`` checkpoint.

    Without ``arch``, the architecture follows from the file name (variant and ``res_384``).
    """
    path = Path(path)
    if arch is None:
        meta = parse_name(path.name.removesuffix(".npz"))
        arch = timm_arch(str(meta["variant"]), int(meta.get("adapt_res", 224)))
    model = create_timm(arch)
    try:
        model.load_pretrained(str(path))
    except (KeyError, RuntimeError) as err:
        raise ValueError(
            f"{path} does not fit ({err}) the architecture {arch!r}; check that the "
            "manifest's arch matches the checkpoint (depth, head, resolution)."
        ) from err
    return model.to(device).eval()
