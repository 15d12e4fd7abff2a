"""ImageNet and its distribution-shift sets as tensors, with the upstream preprocessing of each collection.

Preprocessing (written after the upstream code, see ``docs/paper-settings.md``):
- ``clip``: the image opened in RGB (torchvision's ``ImageFolder`` loader), then OpenAI CLIP's
  ``clip.load`` transform (model soups): bicubic resize of the short side to the input size,
  centre crop, CLIP mean/std.
- ``vit_jax``: ``vit_jax/input_pipeline.py`` (AugReg): decoded as TensorFlow's ``decode_jpeg``
  (:func:`sharpgen.data.decode.decode_as_tensorflow`), the whole image squashed to size x size
  (bilinear, half-pixel centres, no antialiasing, as ``tf.image.resize``), then (x - 127.5) / 127.5.
Labels are ILSVRC2012 class indices (the position of a wnid in the sorted list of the 1,000
wnids); the 200-class sets and ObjectNet are scored through a ``Head`` (:mod:`sharpgen.datasets`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from sharpgen.data.decode import decode_as_tensorflow, open_rgb
from sharpgen.data.imagenet_sets import SHIFTS, TRAIN_LAYOUT
from sharpgen.data.sample import stratified
from sharpgen.datasets import Head, Splits
from sharpgen.progress import Progress
from sharpgen.settings.base import SHIFT_PREFIX, data_root

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
Transform = Callable[[Path, int], torch.Tensor]  # (image file, border px cut off each side) -> input tensor
EVAL_TRAIN_SEED = 1  # the training sample of metrics: evaluate (the sharpness sample has its own seed)


def _data_file(name: str) -> Path:
    return Path(str(files("sharpgen.settings") / "data" / name))


@cache
def wnids(name: str = "imagenet_wnids.txt") -> tuple[str, ...]:
    """A shipped wnid list: the 1,000 ILSVRC2012 classes in index order, or a 200-class subset."""
    return tuple(_data_file(name).read_text().split())


@cache
def objectnet_classes() -> dict[str, tuple[int, ...]]:
    """The 113 ObjectNet folders mapped to ImageNet classes, sorted by folder name."""
    return {k: tuple(v) for k, v in json.loads(_data_file("objectnet_to_imagenet.json").read_text()).items()}


def clip_transform(size: int) -> Transform:
    """OpenAI CLIP's evaluation transform at ``size`` px, on the image opened in RGB."""
    from torchvision.transforms import CenterCrop, Compose, InterpolationMode, Normalize, Resize, ToTensor

    return opened_as_rgb(Compose([Resize(size, interpolation=InterpolationMode.BICUBIC), CenterCrop(size), ToTensor(),
                                  Normalize(CLIP_MEAN, CLIP_STD)]))


def opened_as_rgb(image_transform: Callable[[Any], torch.Tensor]) -> Transform:
    """The file opened as RGB (torchvision's ``ImageFolder`` loader), ``border`` px cut off each
    side, then ``image_transform`` (a PIL image -> tensor)."""

    def load(path: Path, border: int = 0) -> torch.Tensor:
        image = open_rgb(path)
        if border:
            image = image.crop((border, border, image.width - border, image.height - border))
        return image_transform(image)

    return load


def vit_jax_transform(size: int) -> Transform:
    """vit_jax's evaluation transform: decode as TensorFlow, squash to ``size`` x ``size`` (bilinear),
    then (x - 127.5) / 127.5."""

    def load(path: Path, border: int = 0) -> torch.Tensor:
        rgb = decode_as_tensorflow(path)
        if border:
            rgb = rgb[border:rgb.shape[0] - border, border:rgb.shape[1] - border]
        x = torch.from_numpy(rgb.astype(np.float32)).permute(2, 0, 1)
        x = F.interpolate(x[None], size=(size, size), mode="bilinear", align_corners=False, antialias=False)[0]
        return (x - 127.5) / 127.5

    return load


TRANSFORMS: dict[str, Callable[[int], Transform]] = {"clip": clip_transform, "vit_jax": vit_jax_transform}


def input_size(arch: str) -> int:
    """The square input size of a timm architecture string."""
    from sharpgen.networks.timm_arch import create_timm

    size = getattr(getattr(create_timm(arch), "patch_embed", None), "img_size", None)
    if size is None or size[0] != size[1]:
        raise ValueError(f"architecture {arch!r} has no square patch_embed.img_size")
    return int(size[0])


def list_images(folder: Path) -> list[tuple[str, str]]:
    """(path relative to ``folder``, class folder name) of every image one level down, sorted."""
    out = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        out += [(f"{sub.name}/{f.name}", sub.name) for f in sorted(sub.iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]
    if not out:
        raise FileNotFoundError(f"{folder} holds no images in class folders")
    return out


def class_names(kind: str) -> dict[str, int]:
    """Folder name -> label for a kind of folder names: ``wnid`` (ILSVRC2012 wnids), ``index``
    (folders named 0..999), ``wnid200:<list>`` (a shipped 200-wnid subset, labels 0..199 in
    sorted order) or ``objectnet`` (the 113 mapped ObjectNet folders, sorted)."""
    if kind == "wnid":
        return {w: i for i, w in enumerate(wnids())}
    if kind == "index":
        return {str(i): i for i in range(1000)}
    if kind.startswith("wnid200:"):
        return {w: i for i, w in enumerate(wnids(kind.partition(":")[2]))}
    if kind == "objectnet":
        return {name: i for i, name in enumerate(objectnet_classes())}
    raise ValueError(f"unknown folder kind {kind!r}")


def head(kind: str) -> Head | None:
    """How a set's labels meet the 1,000 ImageNet logits: None (the same classes), the 200
    logits of a subset (as the imagenet-r / natural-adv-examples evaluation code restricts
    them), or ObjectNet's max over the ImageNet classes mapped to each of its classes."""
    target = [-1] * 1000
    if kind.startswith("wnid200:"):
        names = class_names(kind)
        target = [names.get(w, -1) for w in wnids()]
    elif kind == "objectnet":
        for i, imagenet in enumerate(objectnet_classes().values()):
            for j in imagenet:
                target[j] = i
    else:
        return None
    return Head(torch.tensor(target), "max")


def heads() -> dict[str, Head]:
    """The heads of the shift sets whose classes are not ImageNet's 1,000."""
    out = {f"{SHIFT_PREFIX}{name}": head(kind) for name, (_, kind) in SHIFTS.items()}
    return {split: h for split, h in out.items() if h is not None}


def labelled(folder: Path, kind: str) -> tuple[list[str], np.ndarray]:
    """Images of ``folder`` (relative paths) and their labels; ObjectNet folders without an
    ImageNet counterpart are skipped, any other unknown folder is an error."""
    images = list_images(folder)
    classes = class_names(kind)
    if kind == "objectnet":
        images = [(p, c) for p, c in images if c in classes]
    unknown = sorted({c for _, c in images} - set(classes))
    if unknown:
        raise ValueError(f"{folder}: class folders {unknown[:3]} ({len(unknown)} in all) are not {kind} class names")
    return [p for p, _ in images], np.array([classes[c] for _, c in images], dtype=np.int64)


def load_images(folder: Path, paths: list[str], transform: Transform, border: int = 0, what: str = "images") -> torch.Tensor:
    """The images at ``folder/<path>`` decoded and preprocessed by ``transform``, ``border`` px cut off each side."""
    progress = Progress(f"load {what}", len(paths), unit="image")
    every = max(1, len(paths) // 20)
    out = []
    for i, path in enumerate(paths, 1):
        out.append(transform(folder / path, border))
        if i % every == 0 or i == len(paths):
            progress.step(n=i - progress.done)
    return torch.stack(out)


def train_sample(train: Path, n: int, seed: int, at_most: bool = False) -> tuple[list[str], np.ndarray, np.ndarray]:
    """A class-stratified sample of n training images (all of them when ``at_most`` and there are
    fewer): relative paths, labels, row in the sorted listing."""
    paths, labels = labelled(train, "wnid")
    n = min(n, len(paths)) if at_most else n
    if len(paths) < n:
        raise ValueError(f"{train} has only {len(paths)} images, fewer than the {n} asked for; lower it")
    rows = stratified(labels, n, seed)
    return [paths[i] for i in rows], labels[rows], rows


def imagenet_subset(setting: str, block: Mapping[str, Any], arch: str, n: int, seed: int, transform: str) -> tuple[torch.Tensor, torch.Tensor, pd.DataFrame]:
    """The sharpness data of an ImageNet setting: a class-stratified sample of n training images."""
    train = data_root(setting, block, "train", TRAIN_LAYOUT)
    paths, labels, rows = train_sample(train, n, seed)
    x = load_images(train, paths, TRANSFORMS[transform](input_size(arch)), what="train sample")
    table = pd.DataFrame({"position": np.arange(n), "label": labels, "source": [f"train/{p}" for p in paths], "index": rows})
    return x, torch.from_numpy(labels), table


def imagenet_dataset(setting: str, block: Mapping[str, Any], arch: str, transform: str) -> tuple[Splits, pd.DataFrame]:
    """ImageNet val (test), the chosen shift sets, and a training sample (``train_n`` images,
    seed ``EVAL_TRAIN_SEED``) when ``data_root`` has train/."""
    tf = TRANSFORMS[transform](input_size(arch))
    sets = [("test", "val", "wnid")] + [(f"{SHIFT_PREFIX}{s}", *SHIFTS[s]) for s in block.get("shifts", list(SHIFTS))]
    folders = {split: data_root(setting, block, relative, f"{split}: <data_root>/{relative}/ (see the README's ImageNet layouts)")
               for split, relative, _ in sets}
    splits: Splits = {}
    index = []
    train = Path(block["data_root"]) / "train"
    train_n = block.get("train_n", 10000)
    if train_n and train.is_dir():
        paths, labels, rows = train_sample(train, train_n, EVAL_TRAIN_SEED, at_most=True)
        splits["train"] = (load_images(train, paths, tf, what="train"), torch.from_numpy(labels))
        index.append(pd.DataFrame({"split": "train", "index": rows, "source": [f"train/{p}" for p in paths], "label": labels}))
    for split, relative, kind in sets:
        paths, labels = labelled(folders[split], kind)
        border = 2 if kind == "objectnet" else 0  # ObjectNet images carry a border (cut as its evaluation code does)
        splits[split] = (load_images(folders[split], paths, tf, border, what=split), torch.from_numpy(labels))
        index.append(pd.DataFrame({"split": split, "index": np.arange(len(paths)), "source": [f"{relative}/{p}" for p in paths], "label": labels}))
    return splits, pd.concat(index, ignore_index=True)
