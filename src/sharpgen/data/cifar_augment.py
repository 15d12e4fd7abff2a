"""The authors' CIFAR-10 training augmentation on batches of images in [0, 1].

Standard augmentation: a random 32x32 crop of the image zero-padded by 4 pixels, then a random
horizontal flip (torchvision's ``RandomCrop(32, padding=4)`` and ``RandomHorizontalFlip()``).
RandAugment(N = 2, M = 14) comes first when enabled, per image on its uint8 version, in one of two
implementations (``RANDAUG_IMPLS``): ``authors`` (the default), the authors' own port
(``sharpgen.data.randaugment``: 16 operations drawn with replacement, absolute-pixel translations,
Invert, SolarizeAdd, Cutout), or ``torchvision``, torchvision's ``RandAugment(num_ops=2,
magnitude=14)`` (14 milder operations, 31 magnitude bins, nearest interpolation, zero fill).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

PADDING = 4
RANDAUG_OPS, RANDAUG_MAGNITUDE = 2, 14
RANDAUG_IMPLS = ("authors", "torchvision")


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


def authors_randaugment(x: Tensor, generator: torch.Generator) -> Tensor:
    """The authors' RandAugment(2, 14) applied to each image separately; its random stream is
    seeded by one draw from ``generator``, so a training seed reproduces it."""
    import numpy as np
    from PIL import Image

    from sharpgen.data.randaugment import AuthorsRandAugment

    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
    op = AuthorsRandAugment(RANDAUG_OPS, RANDAUG_MAGNITUDE, seed=seed)
    images = (x.detach().cpu() * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    out = torch.stack([torch.from_numpy(np.array(op(Image.fromarray(image)), dtype=np.uint8)) for image in images])
    return out.permute(0, 3, 1, 2).to(x.device, torch.float32).div_(255)


def randaugment(x: Tensor) -> Tensor:
    """torchvision's RandAugment(2, 14) applied to each image separately (global torch RNG)."""
    from torchvision.transforms import v2

    op = v2.RandAugment(num_ops=RANDAUG_OPS, magnitude=RANDAUG_MAGNITUDE)
    images = (x.detach().cpu() * 255).round().to(torch.uint8)
    out = torch.stack([op(image) for image in images])
    return out.to(x.device, torch.float32).div_(255)


def image_randaugment(impl: str = "authors", seed: int | None = None) -> Callable:
    """RandAugment(2, 14) as a per-image transform of a PIL image (for a DataLoader's dataset):
    the authors' port (seeded by ``seed``; reseed it per worker) or torchvision's (torch's RNG)."""
    if impl == "authors":
        from sharpgen.data.randaugment import AuthorsRandAugment

        return AuthorsRandAugment(RANDAUG_OPS, RANDAUG_MAGNITUDE, seed=seed)
    if impl == "torchvision":
        from torchvision.transforms import v2

        return v2.RandAugment(num_ops=RANDAUG_OPS, magnitude=RANDAUG_MAGNITUDE)
    raise ValueError(f"randaug_impl must be one of {list(RANDAUG_IMPLS)}, got {impl!r}")


def augmenter(standard: bool, randaug: bool, impl: str = "authors") -> Callable[[Tensor, torch.Generator], Tensor] | None:
    """The batch augmentation of one training run (None: none), RandAugment (``impl``: one of
    ``RANDAUG_IMPLS``) before crop and flip."""
    if impl not in RANDAUG_IMPLS:
        raise ValueError(f"randaug_impl must be one of {list(RANDAUG_IMPLS)}, got {impl!r}")
    if randaug and not standard:
        raise ValueError("RandAugment is applied on top of the standard augmentation (augm); set augm too")
    if not standard:
        return None
    if not randaug:
        return crop_flip
    if impl == "authors":
        return lambda x, generator: crop_flip(authors_randaugment(x, generator), generator)
    return lambda x, generator: crop_flip(randaugment(x), generator)
