"""Evaluation splits from the user's files: an image folder, a tensor or NumPy file, or an embedded set.

A split is named by one string (``sharpgen.settings.collection``):

- a folder of class folders (``<folder>/<class>/<image>``, as torchvision's ``ImageFolder``):
  labels are the positions of the class names among the training split's sorted class folders;
  images go through the transform of the config (resize, crop, interpolation, mean/std) or the
  one timm's pretrained config gives an architecture (``timm.data.resolve_data_config``);
- a ``.pt`` file holding ``{"x": tensor, "y": tensor}`` (or a pair), or a ``.npz`` file with
  arrays ``x`` and ``y``: inputs as stored;
- ``digits:<split>``: a split of the embedded digits set (``train``, ``test`` or a shift name).

Each split keeps its first ``n`` examples (all when ``n`` is absent); the image folders' listing
is sorted, so the first n are a fixed choice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from sharpgen.data.sources.imagenet import Transform, list_images, load_images, opened_as_rgb

EMBEDDED = "digits:"
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos")


def transform(spec: Mapping[str, Any]) -> Transform:
    """The transform of a config's ``data.transform``: the file opened as RGB (as torchvision's
    ``ImageFolder`` loader), then ``image_transform(spec)``."""
    return opened_as_rgb(image_transform(spec))


def image_transform(spec: Mapping[str, Any]) -> Any:
    """timm's transform for ``model``, else resize (short side), centre crop, tensor in [0, 1],
    then (x - mean) / std."""
    if "model" in spec:
        import timm.data

        from sharpgen.networks.factory import resolve

        config = timm.data.resolve_data_config({}, model=resolve(spec["model"])())
        return timm.data.create_transform(**config)
    from torchvision.transforms import CenterCrop, Compose, InterpolationMode, Normalize, Resize, ToTensor

    steps: list[Any] = []
    mode = InterpolationMode(spec.get("interpolation", "bilinear"))
    if "resize" in spec:
        steps.append(Resize(spec["resize"], interpolation=mode))
    if "crop" in spec:
        steps.append(CenterCrop(spec["crop"]))
    steps.append(ToTensor())
    if "mean" in spec or "std" in spec:
        steps.append(Normalize(spec.get("mean", (0.0, 0.0, 0.0)), spec.get("std", (1.0, 1.0, 1.0))))
    return Compose(steps)


def _tensors(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    if path.suffix == ".npz":
        with np.load(path) as arrays:
            if {"x", "y"} - set(arrays.files):
                raise ValueError(f"{path}: expected arrays 'x' and 'y', found {sorted(arrays.files)}")
            return torch.from_numpy(arrays["x"]).float(), torch.from_numpy(arrays["y"]).long()
    payload = torch.load(path, map_location="cpu", weights_only=True)
    x, y = (payload["x"], payload["y"]) if isinstance(payload, dict) else payload
    return x.float(), y.long()


def _embedded(name: str) -> tuple[torch.Tensor, torch.Tensor]:
    from sharpgen.data.digits import digits_splits
    from sharpgen.settings.base import SHIFT_PREFIX

    splits, _ = digits_splits(0.3, 0, 3, 0)
    key = name if name in ("train", "test") else f"{SHIFT_PREFIX}{name}"
    if key not in splits:
        raise ValueError(f"digits has no split {name!r}; choose from train, test, " + ", ".join(k.removeprefix(SHIFT_PREFIX) for k in splits if ":" in k))
    return splits[key]


def read_split(where: str, n: int | None, classes: Sequence[str] | None, image_transform: Transform | None) -> tuple[torch.Tensor, torch.Tensor, pd.DataFrame]:
    """The first ``n`` examples of one split, and where each comes from (columns source, index)."""
    if where.startswith(EMBEDDED):
        x, y = _embedded(where.removeprefix(EMBEDDED))
        return x[:n], y[:n], pd.DataFrame({"source": where, "index": range(len(y[:n]))})
    path = Path(where)
    if not path.exists():
        raise FileNotFoundError(f"data split {where}: no such file or folder")
    if path.is_file():
        x, y = _tensors(path)
        return x[:n], y[:n], pd.DataFrame({"source": path.name, "index": range(len(y[:n]))})
    images = list_images(path)[:n]
    known = {c: i for i, c in enumerate(classes or sorted({c for _, c in images}))}
    unknown = sorted({c for _, c in images} - set(known))
    if unknown:
        raise ValueError(f"{path}: class folders {unknown} are not classes of the training split ({sorted(known)})")
    x = load_images(path, [p for p, _ in images], image_transform, what=path.name)
    y = torch.tensor([known[c] for _, c in images], dtype=torch.long)
    return x, y, pd.DataFrame({"source": [p for p, _ in images], "index": range(len(images))})


def class_folders(where: str) -> list[str] | None:
    """The sorted class folders of an image-folder split (None for other kinds)."""
    path = Path(where)
    return sorted(p.name for p in path.iterdir() if p.is_dir()) if path.is_dir() else None
