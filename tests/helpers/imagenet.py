"""Tiny ImageNet-style data roots in the real on-disk layouts (README, "ImageNet layouts")."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from sharpgen.data.sources.imagenet import wnids

SIZES = [(40, 48), (61, 33), (32, 32), (17, 90), (50, 37)]  # (height, width)


def image(rng: np.random.Generator, folder: Path, name: str, size: tuple[int, int], mode: str = "RGB") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    array = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    Image.fromarray(array).convert(mode).save(folder / name, quality=90)


def imagenet_train(root: Path, classes: int = 4, per_class: int = 5) -> Path:
    """``root/train/<wnid>/*.JPEG`` for the first ``classes`` ILSVRC2012 wnids (one grayscale image)."""
    rng = np.random.default_rng(0)
    for c in range(classes):
        for i in range(per_class):
            image(rng, root / "train" / wnids()[c], f"{wnids()[c]}_{i}.JPEG", SIZES[(c + i) % len(SIZES)],
                  "L" if (c, i) == (1, 2) else "RGB")
    return root


def shift_sets(root: Path, classes: int = 3) -> Path:
    """ImageNet val and the five shift sets under ``root``, a few images each."""
    rng = np.random.default_rng(1)
    size = (36, 30)
    for c in range(classes):
        image(rng, root / "val" / wnids()[c], f"ILSVRC2012_val_{c}.JPEG", size)
        image(rng, root / "imagenetv2-matched-frequency-format-val" / str(c), f"{c}.jpeg", size)
        image(rng, root / "sketch" / wnids()[c], f"sketch_{c}.JPEG", size)
    for name, folder in (("imagenet_r", "imagenet-r"), ("imagenet_a", "imagenet-a")):
        for w in wnids(f"{name}_wnids.txt")[:2]:
            image(rng, root / folder / w, f"{name}_{w}.jpg", size)
    for name in ("alarm_clock", "banana", "air_freshener"):  # air_freshener has no ImageNet class
        image(rng, root / "objectnet-1.0" / "images" / name, f"{name}.png", size)
    return root
