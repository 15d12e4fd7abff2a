"""Light training-time augmentation for 8x8 digits."""

import torch
from torch import Tensor

from sharpgen.data.warp import affine_warp

MAX_SHIFT_PX = 1
MAX_ANGLE_DEG = 10.0


def augment_batch(x: Tensor, generator: torch.Generator) -> Tensor:
    """Randomly translate each image by up to 1 pixel per axis and rotate it by up to +-10 degrees.

    No flips (they change digit identity). Random draws come from ``generator`` on its own
    device, so the result depends only on the generator state; the output lives on ``x.device``.
    """
    n = x.shape[0]
    angle = (torch.rand(n, generator=generator, device=generator.device) * 2.0 - 1.0) * MAX_ANGLE_DEG
    shift = torch.randint(-MAX_SHIFT_PX, MAX_SHIFT_PX + 1, (n, 2), generator=generator, device=generator.device)
    return affine_warp(x, angle.to(x.device), shift.to(x.device))
