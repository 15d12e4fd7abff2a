"""ImageNet (ILSVRC2012) train images in ImageFolder layout, preprocessed with a model's eval transform."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from sharpgen.settings.base import data_root

LAYOUT = "ImageNet train in ImageFolder layout: <data_root>/train/<wnid>/*.JPEG (sorted wnids = labels 0..999)"


def imagenet_train_subset(root: Path, model: torch.nn.Module, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (n, 3, H, W) and labels (n,) of the first ``n`` samples of an ImageFolder train split,
    with the timm eval transform of ``model``."""
    from timm.data import create_transform, resolve_data_config
    from torchvision.datasets import ImageFolder

    transform = create_transform(**resolve_data_config({}, model=model), is_training=False)
    dataset = ImageFolder(str(root), transform=transform)
    count = min(n, len(dataset))
    images, labels = zip(*(dataset[i] for i in range(count)))
    return torch.stack(images), torch.tensor(labels, dtype=torch.int64)


def imagenet_subset(setting: str, block: Mapping[str, Any], arch: str, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The sharpness data of an ImageNet setting: n training images under ``<setting>.data_root``."""
    from sharpgen.networks.timm_arch import create_timm

    train = data_root(setting, block, "train", LAYOUT)
    model = create_timm(arch)
    size = getattr(getattr(model, "patch_embed", None), "img_size", None)
    if size is not None:  # an img_size override changes the input, not timm's pretrained_cfg
        model.pretrained_cfg = {**model.pretrained_cfg, "input_size": (3, *size)}
    x, y = imagenet_train_subset(train, model, n)
    if len(y) < n:
        raise ValueError(f"{setting}.sharpness.n = {n} but {train} has only {len(y)} images; lower it")
    return x, y
