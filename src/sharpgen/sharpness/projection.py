"""Projections onto the perturbation sets {delta : ||delta / c||_p <= rho}.

Coordinates with c == 0 (adaptive sharpness at a weight that is exactly zero) are not
perturbed: their delta is 0 and they do not enter the weighted norm.
"""

from __future__ import annotations

import torch
from torch import Tensor

NEWTON_MAX_STEPS = 100
NEWTON_RTOL = 1e-10


def weighted_norm(delta: Tensor, inv_c: Tensor | None, p: str) -> float:
    """||delta / c||_p with 1/c given (0 where c == 0); inv_c None means c = 1."""
    scaled = delta if inv_c is None else delta * inv_c
    return float(scaled.norm() if p == "l2" else scaled.abs().max())


def project_linf(delta: Tensor, bound: Tensor | float) -> Tensor:
    """Clamp every coordinate to [-bound, bound] (bound = rho * c)."""
    if isinstance(bound, Tensor):
        return torch.clamp(delta, min=-bound, max=bound)
    return delta.clamp(-bound, bound)


def project_l2(delta: Tensor, rho: float) -> Tensor:
    """Rescale onto the l2 ball of radius rho when outside it (c = 1)."""
    norm = float(delta.norm())
    return delta * (rho / norm) if norm > rho else delta


def project_l2_weighted(delta: Tensor, c: Tensor, rho: float) -> Tensor:
    """Exact Euclidean projection onto the ellipsoid {z : ||z / c||_2 <= rho}.

    The KKT conditions give z_i = d_i * s_i / (s_i + mu) with s = c^2 and the multiplier
    mu >= 0 that makes the weighted norm N(mu) equal rho. 1/N(mu) is concave and increasing
    in mu (the trust-region secular equation), so Newton's method on 1/N(mu) - 1/rho from
    mu = 0 increases monotonically to the root without overshooting. Solved in float64.
    """
    active = c > 0
    s = (c[active].double()) ** 2
    d = delta[active].double()
    u = d / c[active].double()  # weighted coordinates d / c
    if float(u.norm()) <= rho:
        return torch.where(active, delta, torch.zeros_like(delta))
    mu = 0.0
    for _ in range(NEWTON_MAX_STEPS):
        shrink = s / (s + mu)
        t = u * shrink
        norm = float(t.norm())
        if abs(norm - rho) <= NEWTON_RTOL * rho:
            break
        dnorm = -float((t * t / (s + mu)).sum()) / norm  # dN/dmu < 0
        phi, dphi = 1.0 / norm - 1.0 / rho, -dnorm / norm**2
        increment = -phi / dphi
        if increment <= 0:  # at the root to floating-point resolution
            break
        mu += increment
    out = torch.zeros_like(delta)
    out[active] = (d * (s / (s + mu))).to(delta.dtype)
    return out
