"""A population of diagonal linear networks on sparse regression: which sharpness tracks test loss?

The paper's theory experiment (slides "Is sharpness the right quantity?"): networks beta = u * v
trained by gradient descent with different learning rates, initialisation scales and seeds on one
sparse regression problem (Gaussian X, a 90%-sparse ground truth), each to a training loss of
1e-5. Per network: the test loss; finite-rho average- and worst-case l2 sharpness with the slides'
scaling c (``sharpgen.theory``: their rho -> 0 limits are tr(C H C) / 2 and lambda_max(C H C) / 2,
2 ||beta||_1 and 2 ||beta||_inf when X^T X / n = I, docs/theory.md) computed by the engine on the
network as a torch model with the mean squared error; and the closed forms 2 ||beta||_1, 2 ||beta||_inf.

Expected from the theory: on a sparse ground truth the test loss of an interpolator grows with
how far it is from the minimum-l1 interpolator (small initialisations, and larger learning
rates, give sparser solutions), so the l1-based quantities (average-case sharpness, 2 ||beta||_1)
rank the networks' test loss well; the l-infinity ones (worst-case sharpness, 2 ||beta||_inf)
see only the largest coordinate, which every interpolator fits at about the same value, and rank
it worse.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from sharpgen.log import log
from sharpgen.theory import DiagonalLinearNet, slides_scale

QUANTITIES = {
    "avg_sharpness": "average-case sharpness (rho = {rho_avg:g})",
    "max_sharpness": "worst-case sharpness (rho = {rho_max:g})",
    "l1_limit": "2 ||beta||_1 (average-case limit)",
    "linf_limit": "2 ||beta||_inf (worst-case limit)",
}


@dataclass(frozen=True)
class Population:
    """The problem and the grid: n training and n_test Gaussian examples in d dimensions, a
    ground truth with a fraction ``sparsity`` of zeros (the rest +-1), networks for every
    (lr, alpha, seed) with u0 = alpha * s (s ~ U[0.5, 1.5]^d from the seed), v0 = 0."""

    n: int = 50
    d: int = 100
    sparsity: float = 0.9
    n_test: int = 1000
    lrs: tuple[float, ...] = (0.02, 0.04, 0.06)
    alphas: tuple[float, ...] = (0.02, 0.1, 0.3, 1.0)
    seeds: tuple[int, ...] = (0, 1, 2, 3)
    target_loss: float = 1e-5
    max_steps: int = 100_000
    data_seed: int = 0

    def data(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """X, y, X_test, y_test, beta*."""
        rng = np.random.default_rng(self.data_seed)
        k = round(self.d * (1 - self.sparsity))
        beta = np.zeros(self.d)
        beta[rng.choice(self.d, k, replace=False)] = rng.choice([-1.0, 1.0], k)
        x, x_test = rng.normal(size=(self.n, self.d)), rng.normal(size=(self.n_test, self.d))
        return x, x @ beta, x_test, x_test @ beta, beta


def train(population: Population) -> tuple[list[tuple[float, float, int]], np.ndarray, np.ndarray, np.ndarray]:
    """Gradient descent on (1/n) ||X (u * v) - y||^2 for the whole grid at once; a network stops
    (is frozen) once its training loss is <= target_loss. Returns the grid, u, v and the steps."""
    x, y, _, _, _ = population.data()
    grid = list(itertools.product(population.lrs, population.alphas, population.seeds))
    lr = np.array([g[0] for g in grid])[:, None]
    u = np.stack([alpha * np.random.default_rng(1000 + seed).uniform(0.5, 1.5, population.d) for _, alpha, seed in grid])
    v = np.zeros_like(u)
    steps = np.zeros(len(grid), dtype=int)
    active = np.ones(len(grid), dtype=bool)
    with np.errstate(over="ignore", invalid="ignore"):
        for step in range(population.max_steps):
            residual = (u[active] * v[active]) @ x.T - y
            loss = np.mean(residual**2, axis=1)
            done = ~(loss > population.target_loss)  # converged or diverged (nan)
            index = np.flatnonzero(active)
            steps[index[done]] = step
            active[index[done]] = False
            if not active.any():
                break
            keep = ~done
            grad = 2 / population.n * residual[keep] @ x
            i = index[keep]
            u[i], v[i] = u[i] - lr[i] * grad * v[i], v[i] - lr[i] * grad * u[i]
            if step % 20_000 == 0 and step:
                log(f"    step {step}: {active.sum()} of {len(grid)} networks still above {population.target_loss:g}")
        steps[active] = population.max_steps
    return grid, u, v, steps


def mse(outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-example squared error: the batch loss is the training loss (1/n) ||X beta - y||^2."""
    return (outputs - labels) ** 2


def engine_sharpness(x: np.ndarray, y: np.ndarray, u: np.ndarray, v: np.ndarray, rho_avg: float, rho_max: float,
                     n_samples: int, seed: int) -> tuple[float, float]:
    """Average- and worst-case l2 sharpness with the slides' c of the mean squared error, by the
    engine (float64, m = n, antithetic noise, 20 APGD iterations)."""
    from sharpgen.sharpness import Definition, compute_sharpness, split_batches

    tu, tv = torch.from_numpy(u), torch.from_numpy(v)
    net = DiagonalLinearNet(tu, tv, slides_scale(tu, tv)).double()
    batches = split_batches(torch.from_numpy(x), torch.from_numpy(y), len(y))
    common = {"adaptive": False, "logit_norm": False, "m": len(y), "seed": seed}
    avg = Definition("average", "l2", rho=rho_avg, n_samples=n_samples, antithetic=True, **common)
    worst = Definition("worst", "l2", rho=rho_max, n_iters=20, **common)
    return tuple(compute_sharpness(net, batches, d, device="cpu", loss_fn=mse, error_fn=mse).sharpness_loss
                 for d in (avg, worst))


def study(population: Population, rho_avg: float = 0.01, rho_max: float = 0.01, n_samples: int = 20,
          seed: int = 0, engine: bool = True) -> pd.DataFrame:
    """One row per network: lr, alpha, seed, steps, train and test loss, ||beta - beta*||_2, the
    engine's sharpness (divided by rho^2, so it is comparable to the limits; nan without
    ``engine`` or for a network that did not converge) and the closed forms."""
    x, y, x_test, y_test, beta_star = population.data()
    grid, u, v, steps = train(population)
    rows = []
    for (lr, alpha, s), ui, vi, k in zip(grid, u, v, steps, strict=True):
        beta = ui * vi
        row = {"lr": lr, "alpha": alpha, "seed": s, "steps": int(k),
               "train_loss": float(np.mean((x @ beta - y) ** 2)), "test_loss": float(np.mean((x_test @ beta - y_test) ** 2)),
               "distance": float(np.linalg.norm(beta - beta_star)),
               "l1_limit": 2 * float(np.abs(beta).sum()), "linf_limit": 2 * float(np.abs(beta).max()),
               "avg_sharpness": math.nan, "max_sharpness": math.nan}
        converged = np.isfinite(beta).all() and row["train_loss"] <= population.target_loss
        if engine and converged and (ui != 0).all() and (vi != 0).all():
            avg, worst = engine_sharpness(x, y, ui, vi, rho_avg, rho_max, n_samples, seed)
            row["avg_sharpness"], row["max_sharpness"] = avg / rho_avg**2, worst / rho_max**2
        rows.append(row)
    return pd.DataFrame(rows)


def kendall_taus(frame: pd.DataFrame, columns: Sequence[str] = tuple(QUANTITIES)) -> dict[str, float]:
    """Kendall's tau-b of each quantity against the test loss over the networks that have it."""
    from sharpgen.correlation import kendall

    return {c: kendall(frame[c], frame["test_loss"])[0] for c in columns}
