"""Average-case sharpness: E_delta[L_S(w0 + delta)] - L_S(w0), estimated by Monte Carlo.

l2: delta ~ N(0, rho^2 diag(c^2)) (i.i.d. Gaussian with std rho * c per coordinate, not on a
sphere); linf: delta ~ Uniform[-rho * c, rho * c]. Antithetic sampling draws (+delta, -delta)
pairs: the first-order term cancels within each pair, which removes most of the variance at
small rho while the estimator stays unbiased.
"""

from __future__ import annotations

import torch
from torch import Tensor

from sharpgen.sharpness.definition import Definition
from sharpgen.sharpness.objective import BatchObjective


def average_case(
    objective: BatchObjective, w0: Tensor, c: Tensor | None, definition: Definition, generator: torch.Generator
) -> dict[str, float]:
    """Mean perturbed loss and error over ``definition.n_samples`` draws on one batch."""
    clean_loss, clean_err = objective.value(w0, "clean point")
    rho = definition.rho
    noise = torch.empty_like(w0)
    active = None if c is None or bool((c > 0).all()) else c > 0
    losses, errors, norms = 0.0, 0.0, 0.0
    for k in range(definition.n_samples):
        sign = -1.0 if definition.antithetic and k % 2 else 1.0
        if sign > 0:
            if definition.norm == "l2":
                noise.normal_(generator=generator)
            else:
                noise.uniform_(-1.0, 1.0, generator=generator)
        w = w0 + (sign * rho) * noise if c is None else torch.addcmul(w0, c, noise, value=sign * rho)
        loss, err = objective.value(w, f"noise sample {k}")
        losses += loss
        errors += err
        scaled = noise if active is None else noise[active]
        norms += rho * float(scaled.norm() if definition.norm == "l2" else scaled.abs().max())
    n = definition.n_samples
    return {
        "clean_loss": clean_loss,
        "clean_error": clean_err,
        "perturbed_loss": losses / n,
        "perturbed_error": errors / n,
        "delta_norm": norms / n,
        "halvings": 0,
    }
