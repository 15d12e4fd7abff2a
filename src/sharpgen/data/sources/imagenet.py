"""The first ``n`` ImageNet training images, preprocessed with the model's timm eval transform."""

from __future__ import annotations

from pathlib import Path

import torch
from timm.data import create_transform, resolve_data_config
from torchvision.datasets import ImageFolder

CONFIG_KEY = "data.imagenet_root"


def imagenet_train_subset(root: Path | None, model: torch.nn.Module, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (n, 3, H, W) and labels (n,) of the first ``n`` samples of an ImageFolder train split.

    ``root`` is config key ``data.imagenet_root``: a directory with one sub-directory per class
    (``n01440764/...JPEG``, sorted wnids = label order 0..999), i.e. ILSVRC2012 ``train/``.
    """
    if root is None or not Path(root).is_dir():
        raise FileNotFoundError(
            f"ImageNet train folder {root!r} not found: set config key {CONFIG_KEY} to a directory "
            "in ImageFolder layout (one sub-directory per class wnid, e.g. train/n01440764/*.JPEG)"
        )
    transform = create_transform(**resolve_data_config({}, model=model), is_training=False)
    dataset = ImageFolder(str(root), transform=transform)
    count = min(n, len(dataset))
    images, labels = zip(*(dataset[i] for i in range(count)))
    return torch.stack(images), torch.tensor(labels, dtype=torch.int64)
