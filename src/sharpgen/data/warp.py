"""Per-image affine warps (rotation + translation) with zero padding."""

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def affine_warp(x: Tensor, angle_deg: Tensor, shift_px: Tensor) -> Tensor:
    """Rotate each image about its centre by ``angle_deg`` (N,) and move it by ``shift_px`` (N, 2).

    ``shift_px`` holds (dx, dy) in pixels; content moves right/down for positive values.
    Pixels sampled from outside the image are zero; sampling is bilinear.
    """
    n, _, h, w = x.shape
    angle = angle_deg.to(x) * (math.pi / 180.0)
    shift = shift_px.to(x)
    cos, sin = torch.cos(angle), torch.sin(angle)
    tx, ty = -2.0 * shift[:, 0] / w, -2.0 * shift[:, 1] / h
    theta = torch.stack(
        [torch.stack([cos, -sin, cos * tx - sin * ty], dim=1), torch.stack([sin, cos, sin * tx + cos * ty], dim=1)],
        dim=1,
    )
    grid = F.affine_grid(theta, [n, x.shape[1], h, w], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
