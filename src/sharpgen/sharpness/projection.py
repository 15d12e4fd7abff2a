"""Projections onto the perturbation sets {delta : ||delta / c||_p <= rho}.

Coordinates with c == 0 (adaptive sharpness at a weight that is exactly zero) are not
perturbed: their delta is 0 and they do not enter the weighted norm.
"""

from __future__ import annotations

import torch
from torch import Tensor

NEWTON_MAX_STEPS = 50
NEWTON_RTOL = 1e-12


def weighted_norm(delta: Tensor, inv_c: Tensor | None, p: str) -> float:
    """||delta / c||_p with 1/c given (0 where c == 0); inv_c None means c = 1."""
    scaled = delta if inv_c is None else delta * inv_c
    return float(scaled.norm() if p == "l2" else scaled.abs().max())


def project_linf(delta: Tensor, low: Tensor | float, high: Tensor | float) -> Tensor:
    """Clamp every coordinate of a fresh ``delta`` to [low, high] (= [-rho c, rho c]) in place."""
    return torch.clamp(delta, min=low, max=high, out=delta)


def project_l2(delta: Tensor, rho: float) -> Tensor:
    """Rescale onto the l2 ball of radius rho when outside it (c = 1)."""
    norm = float(delta.norm())
    return delta * (rho / norm) if norm > rho else delta


class EllipsoidProjection:
    """Exact Euclidean projection onto the ellipsoid {z : ||z / c||_2 <= rho}.

    The KKT conditions give z_i = d_i * s_i / (s_i + mu) with s = c^2 and the multiplier
    mu >= 0 that makes the weighted norm N(mu) equal rho. 1/N(mu) is concave and increasing
    in mu (the trust-region secular equation), so Newton's method on 1/N(mu) - 1/rho converges
    monotonically from below; from a start above the root, the first step lands below it.
    Successive APGD projections have similar multipliers, so each call starts from the last
    one. Elementwise work is in the parameters' dtype, every sum accumulates in float64, and
    mu is a float64 scalar: the weighted norm of the result equals rho to float32 resolution.
    """

    def __init__(self, c: Tensor, rho: float) -> None:
        self.rho = rho
        self.active = c > 0
        self.all_active = bool(self.active.all())
        # Full-length vectors, no compaction (boolean-mask indexing costs more than the rest of
        # the projection): at c == 0, 1/c and s are 0 and the denominator's s is 1, so those
        # coordinates contribute 0 to every sum and come out as 0, for any mu >= 0.
        self.inv_c = 1.0 / c if self.all_active else torch.where(self.active, 1.0 / c, torch.zeros_like(c))
        self.s = c * c
        self.s_den = self.s if self.all_active else torch.where(self.active, self.s, torch.ones_like(c))
        self.mu = 0.0

    def __call__(self, delta: Tensor) -> Tensor:
        u = delta * self.inv_c  # weighted coordinates d / c (0 where c == 0)
        if _norm64(u) <= self.rho:
            return delta if self.all_active else torch.where(self.active, delta, torch.zeros_like(delta))
        mu = self._multiplier(u)
        return delta * (self.s / (self.s_den + mu))

    def _multiplier(self, u: Tensor) -> float:
        s, s_den, rho = self.s, self.s_den, self.rho
        rtol = max(4 * torch.finfo(u.dtype).eps, NEWTON_RTOL)  # what the dtype can resolve
        mu = self.mu
        for _ in range(NEWTON_MAX_STEPS):
            denom = s_den + mu
            t = u * s / denom
            norm = _norm64(t)
            if abs(norm - rho) <= rtol * rho:
                break
            dnorm = -float(torch.sum(t * t / denom, dtype=torch.float64)) / norm  # dN/dmu < 0
            phi, dphi = 1.0 / norm - 1.0 / rho, -dnorm / norm**2
            new = max(mu - phi / dphi, 0.0)
            if abs(new - mu) <= 1e-12 * max(mu, 1e-300):  # at the root to floating-point resolution
                break
            mu = new
        self.mu = mu
        return mu


def _norm64(x: Tensor) -> float:
    return float(torch.linalg.vector_norm(x, dtype=torch.float64))


def project_l2_weighted(delta: Tensor, c: Tensor, rho: float) -> Tensor:
    """One-off exact projection onto {z : ||z / c||_2 <= rho} (see EllipsoidProjection)."""
    return EllipsoidProjection(c, rho)(delta)
