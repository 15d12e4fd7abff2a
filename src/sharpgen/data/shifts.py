"""Deterministic distribution shifts for digits, in the spirit of CIFAR-10-C."""

import torch
import torch.nn.functional as F
from torch import Tensor

from sharpgen.data.warp import affine_warp

SHIFTS: tuple[str, ...] = ("gaussian_noise", "blur", "translate", "rotate", "contrast")

NOISE_STD = (0.08, 0.15, 0.22, 0.30, 0.40)
BLUR_SIGMA = (0.5, 0.75, 1.0, 1.25, 1.5)
TRANSLATE_PX = ((1, 0), (1, 1), (2, 0), (2, 1), (2, 2))
ROTATE_DEG = (10.0, 15.0, 20.0, 25.0, 30.0)
CONTRAST_FACTOR = (0.6, 0.45, 0.3, 0.2, 0.1)


def _gaussian_noise(x: Tensor, severity: int, generator: torch.Generator) -> Tensor:
    noise = torch.randn(x.shape, generator=generator).to(x.device)
    return x + NOISE_STD[severity - 1] * noise


def _blur(x: Tensor, severity: int, generator: torch.Generator) -> Tensor:
    radius = 2
    offsets = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel_1d = torch.exp(-0.5 * (offsets / BLUR_SIGMA[severity - 1]) ** 2)
    kernel_1d = kernel_1d / kernel_1d.sum()
    kernel = (kernel_1d[:, None] * kernel_1d[None, :]).reshape(1, 1, 2 * radius + 1, 2 * radius + 1)
    n, c, h, w = x.shape
    return F.conv2d(x.reshape(n * c, 1, h, w), kernel, padding=radius).reshape(n, c, h, w)


def _shift_zero_fill(x: Tensor, dy: int, dx: int) -> Tensor:
    h, w = x.shape[-2:]
    rows = torch.arange(h, device=x.device) - dy
    cols = torch.arange(w, device=x.device) - dx
    keep = ((rows >= 0) & (rows < h))[:, None] & ((cols >= 0) & (cols < w))[None, :]
    return torch.roll(x, shifts=(dy, dx), dims=(-2, -1)) * keep


def _translate(x: Tensor, severity: int, generator: torch.Generator) -> Tensor:
    major, minor = TRANSLATE_PX[severity - 1]
    n = x.shape[0]
    signs = torch.randint(0, 2, (n, 2), generator=generator) * 2 - 1
    swap = torch.randint(0, 2, (n,), generator=generator).bool()
    dy = torch.where(swap, minor, major) * signs[:, 0]
    dx = torch.where(swap, major, minor) * signs[:, 1]
    out = torch.zeros_like(x)
    for sy, sx in sorted(set(zip(dy.tolist(), dx.tolist()))):
        index = torch.nonzero((dy == sy) & (dx == sx)).squeeze(1).to(x.device)
        out[index] = _shift_zero_fill(x[index], sy, sx)
    return out


def _rotate(x: Tensor, severity: int, generator: torch.Generator) -> Tensor:
    n = x.shape[0]
    signs = torch.randint(0, 2, (n,), generator=generator) * 2 - 1
    angle = (ROTATE_DEG[severity - 1] * signs).to(x.device)
    return affine_warp(x, angle, torch.zeros(n, 2, device=x.device))


def _contrast(x: Tensor, severity: int, generator: torch.Generator) -> Tensor:
    mean = x.mean(dim=(-3, -2, -1), keepdim=True)
    return mean + CONTRAST_FACTOR[severity - 1] * (x - mean)


_CORRUPTIONS = {
    "gaussian_noise": _gaussian_noise,
    "blur": _blur,
    "translate": _translate,
    "rotate": _rotate,
    "contrast": _contrast,
}


def corrupt(x: Tensor, kind: str, severity: int, seed: int) -> Tensor:
    """Apply shift ``kind`` at ``severity`` (1..5) to images ``x`` (N, C, H, W); clip to [0, 1].

    Parameters per severity 1..5 (random draws come from a CPU ``torch.Generator(seed)``):

    - gaussian_noise: additive N(0, std^2) per pixel, std = 0.08, 0.15, 0.22, 0.30, 0.40
    - blur: 5x5 Gaussian kernel (zero padding), sigma = 0.5, 0.75, 1.0, 1.25, 1.5 pixels
    - translate: shift by (major, minor) pixels = (1,0), (1,1), (2,0), (2,1), (2,2), random
      signs and random axis order per image, by roll with zero fill
    - rotate: rotation by 10, 15, 20, 25, 30 degrees with random sign per image (bilinear, zero fill)
    - contrast: blend toward the per-image mean, x' = m + c (x - m), c = 0.6, 0.45, 0.3, 0.2, 0.1
    """
    if kind not in _CORRUPTIONS:
        raise ValueError(f"unknown shift {kind!r}; valid kinds: {', '.join(SHIFTS)}")
    if severity not in range(1, 6):
        raise ValueError(f"severity must be an integer in 1..5, got {severity!r}")
    generator = torch.Generator().manual_seed(seed)
    return _CORRUPTIONS[kind](x, severity, generator).clamp(0.0, 1.0)


def shift_sets(x: Tensor, y: Tensor, severity: int, seed: int) -> dict[str, tuple[Tensor, Tensor]]:
    """Every shift of (x, y) at ``severity``, plus ``"mixed"``.

    In ``"mixed"`` example i is corrupted by ``SHIFTS[perm[i] % len(SHIFTS)]`` for a permutation
    drawn from ``seed``, so the kinds are equally represented (up to one example).
    """
    corrupted = [corrupt(x, kind, severity, seed) for kind in SHIFTS]
    sets = {kind: (xc, y) for kind, xc in zip(SHIFTS, corrupted)}
    perm = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed))
    kind_index = (perm % len(SHIFTS)).to(x.device)
    sets["mixed"] = (torch.stack(corrupted)[kind_index, torch.arange(x.shape[0], device=x.device)], y)
    return sets
