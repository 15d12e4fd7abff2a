"""Worst-case sharpness: max over ||delta / c||_p <= rho of L_S(w0 + delta) - L_S(w0), by APGD.

Defaults reproduce the authors' weight-space auto-PGD exactly: delta starts at 0, step size
2 * rho, their momentum recurrence delta_{k+1} = 0.75 P(delta_k + step) + 0.25 delta_{k-1},
their checkpoint schedule and halving rule, and a reset that moves only the gradient point to
the best weights found (not delta). Switches: ``momentum="autoattack"`` (the momentum of Croce
& Hein 2020), ``reset="clean"`` (delta itself goes back to the best point), ``init="random"``
with ``restarts`` (random start inside the set; best over restarts).

The loss of a new iterate and the gradient for the next step come from the same forward
pass, and the gradient at the best point is kept when it is found, so a batch costs
n_iters x (forward + backward) + 1 forward (+1 forward for the clean loss with random init).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from sharpgen.sharpness.definition import Definition
from sharpgen.sharpness.objective import BatchObjective
from sharpgen.sharpness.projection import EllipsoidProjection, project_l2, project_linf, weighted_norm

MOMENTUM = 0.75
MIN_UPDATE_RATIO = 0.75
GRAD_NORM_EPS = 1e-12


def checkpoints(n_iters: int) -> list[int]:
    """Iterations (0-based) at which APGD may halve its step: 5, 9, 12, 15, 16, 18, 19, 20 for 20."""
    p = [0.0, 0.22]
    w = [0, math.ceil(0.22 * n_iters)]
    while w[-1] < n_iters and w[-1] != w[-2]:
        p.append(p[-1] + max(p[-1] - p[-2] - 0.03, 0.06))
        w.append(math.ceil(p[-1] * n_iters))
    return w[1:]


class _Geometry:
    """Steps and projections for one definition's perturbation set."""

    def __init__(self, definition: Definition, c: Tensor | None) -> None:
        self.norm = definition.norm
        self.rho = definition.rho
        self.c = c
        self.inv_c = None if c is None else torch.where(c > 0, 1.0 / c, torch.zeros_like(c))
        self.bound: Tensor | float = self.rho if c is None else self.rho * c
        self.low: Tensor | float = -self.bound
        self.ellipsoid = EllipsoidProjection(c, self.rho) if c is not None and self.norm == "l2" else None

    def ascent(self, delta: Tensor, grad: Tensor, eta: float) -> Tensor:
        """delta + eta sign(g) c (linf) or delta + eta g / ||g||_2 c (l2), in one fused pass."""
        if self.norm == "linf":
            direction, scale = grad.sign(), eta
        else:
            direction, scale = grad, eta / (float(grad.norm()) + GRAD_NORM_EPS)
        if self.c is None:
            return delta.add(direction, alpha=scale)
        return torch.addcmul(delta, direction, self.c, value=scale)

    def project(self, delta: Tensor) -> Tensor:
        if self.norm == "linf":
            return project_linf(delta, self.low, self.bound)
        if self.ellipsoid is None:
            return project_l2(delta, self.rho)
        return self.ellipsoid(delta)

    def random_point(self, like: Tensor, generator: torch.Generator) -> Tensor:
        """Uniform in the box (linf) or uniform on the sphere of the (weighted) ball (l2)."""
        if self.norm == "linf":
            z = torch.empty_like(like).uniform_(-1.0, 1.0, generator=generator)
            return z * self.bound
        z = torch.empty_like(like).normal_(generator=generator)
        if self.c is not None:
            z = torch.where(self.c > 0, z, torch.zeros_like(z))
            return z * (self.rho / float(z.norm())) * self.c
        return z * (self.rho / float(z.norm()))

    def size(self, delta: Tensor) -> float:
        return weighted_norm(delta, self.inv_c, self.norm)


def worst_case(
    objective: BatchObjective, w0: Tensor, c: Tensor | None, definition: Definition, generator: torch.Generator
) -> dict[str, float]:
    """Best loss and its error over APGD iterations (and restarts) on one batch."""
    geometry = _Geometry(definition, c)
    marks = set(checkpoints(definition.n_iters))
    clean = None if definition.init == "zero" else objective.value(w0, "clean point")
    best_over_restarts: dict[str, float] | None = None
    for restart in range(definition.restarts):
        if definition.init == "zero":
            delta = torch.zeros_like(w0)
        else:
            delta = geometry.random_point(w0, generator)
        run = _apgd(objective, w0, delta, geometry, definition, marks, clean, restart)
        clean = (run["clean_loss"], run["clean_error"])
        if best_over_restarts is None or run["perturbed_loss"] > best_over_restarts["perturbed_loss"]:
            halvings = run["halvings"] + (best_over_restarts or {}).get("halvings", 0)
            best_over_restarts = {**run, "halvings": halvings}
        else:
            best_over_restarts["halvings"] += run["halvings"]
    assert best_over_restarts is not None
    return best_over_restarts


def _apgd(
    objective: BatchObjective,
    w0: Tensor,
    delta: Tensor,
    geometry: _Geometry,
    definition: Definition,
    marks: set[int],
    clean: tuple[float, float] | None,
    restart: int,
) -> dict[str, float]:
    tag = f"restart {restart}"
    # Persistent buffers: the evaluated point w0 + delta and the gradient there. Their parameter
    # views are made once, so an iteration's own work is a fixed number of whole-vector ops.
    point, grad_buffer = torch.add(w0, delta), torch.empty_like(w0)
    loss, err, grad = objective.value_and_grad(point, f"{tag}, start point", grad_buffer)
    clean_loss, clean_err = clean if clean is not None else (loss, err)
    best_loss, best_err = clean_loss, clean_err
    best_delta, best_grad = delta.clone(), grad.clone()
    eta = prev_eta = 2.0 * definition.rho
    prev_best, prev_mark, updates, halvings = best_loss, 0, 0, 0
    prev = delta.clone()
    for i in range(definition.n_iters):
        z = geometry.project(geometry.ascent(delta, grad, eta))
        if definition.momentum == "reference":
            new = torch.add(z.mul_(MOMENTUM), prev, alpha=1.0 - MOMENTUM)
        elif i == 0:
            new = z
        else:
            moved = delta + MOMENTUM * (z - delta) + (1.0 - MOMENTUM) * (delta - prev)
            new = geometry.project(moved)
        prev, delta = delta, new
        where = f"{tag}, iteration {i}"
        last = i == definition.n_iters - 1
        torch.add(w0, delta, out=point)
        if last:  # no step follows: the loss alone will do
            loss, err = objective.value(point, where)
        else:
            loss, err, grad = objective.value_and_grad(point, where, grad_buffer)
        if loss > best_loss:
            best_loss, best_err = loss, err
            best_delta.copy_(delta)
            if not last:
                best_grad.copy_(grad)
            updates += 1
        if i in marks:
            oscillating = updates < MIN_UPDATE_RATIO * (i - prev_mark)
            stalled = prev_eta == eta and prev_best == best_loss
            prev_eta, prev_best, prev_mark, updates = eta, best_loss, i, 0
            if oscillating or stalled:
                eta *= 0.5
                halvings += 1
                grad = best_grad
                if definition.reset == "clean":
                    delta, prev = best_delta.clone(), best_delta.clone()
    return {
        "clean_loss": clean_loss,
        "clean_error": clean_err,
        "perturbed_loss": best_loss,
        "perturbed_error": best_err,
        "delta_norm": geometry.size(best_delta),
        "halvings": halvings,
    }
