"""The authors' CIFAR-10 training augmentation on batches of images in [0, 1].

Standard augmentation: a random 32x32 crop of the image zero-padded by 4 pixels, then a random
horizontal flip (torchvision's ``RandomCrop(32, padding=4)`` and ``RandomHorizontalFlip()``).
RandAugment comes first when enabled: torchvision's ``RandAugment(num_ops=2, magnitude=14)``
(31 magnitude bins, nearest interpolation, zero fill), per image on its uint8 version; the
authors used their own port of RandAugment with N = 2, M = 14, which differs in its list of ops.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

PADDING = 4
RANDAUG_OPS, RANDAUG_MAGNITUDE = 2, 14


def crop_flip(x: Tensor, generator: torch.Generator, padding: int = PADDING) -> Tensor:
    """Random crop of the zero-padded images and random horizontal flip, per image.

    Offsets and flips are drawn from ``generator`` (on its device); the output lives on ``x.device``.
    """
    n, _, h, w = x.shape
    dev = generator.device
    offsets = torch.randint(0, 2 * padding + 1, (n, 2), generator=generator, device=dev).to(x.device)
    flips = (torch.rand(n, generator=generator, device=dev) < 0.5).to(x.device)
    padded = torch.nn.functional.pad(x, (padding, padding, padding, padding))
    cols = torch.arange(w, device=x.device).expand(n, w)
    cols = torch.where(flips[:, None], cols.flip(1), cols) + offsets[:, 1:2]
    rows = torch.arange(h, device=x.device)[None, :] + offsets[:, 0:1]
    index = torch.arange(n, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[index, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2).contiguous()


def randaugment(x: Tensor) -> Tensor:
    """torchvision's RandAugment(2, 14) applied to each image separately (global torch RNG)."""
    from torchvision.transforms import v2

    op = v2.RandAugment(num_ops=RANDAUG_OPS, magnitude=RANDAUG_MAGNITUDE)
    images = (x.detach().cpu() * 255).round().to(torch.uint8)
    out = torch.stack([op(image) for image in images])
    return out.to(x.device, torch.float32).div_(255)


def augmenter(standard: bool, randaug: bool) -> Callable[[Tensor, torch.Generator], Tensor] | None:
    """The batch augmentation of one training run (None: none), RandAugment before crop and flip."""
    if randaug and not standard:
        raise ValueError("RandAugment is applied on top of the standard augmentation (augm); set augm too")
    if not standard:
        return None
    if not randaug:
        return crop_flip
    return lambda x, generator: crop_flip(randaugment(x), generator)
