"""Diagonal linear networks (the slides' "Is sharpness the right quantity?"): closed forms and a grid.

Model: beta = u * v (elementwise), L(w) = ||X beta - y||_2^2 with w = (u, v) in R^{2d}. Scaling
vector (the slides'): c_u = sqrt(|u| / |v|), c_v = sqrt(|v| / |u|) (so that c_u c_v = 1; the slides
print the two blocks the other way round, which does not give ||beta||_1). At an interpolating w
(X beta = y) the Hessian is H = 2 J^T J with J = X [diag(v), diag(u)], and with X^T X = I

    C H C = 2 [[diag|beta|, diag beta], [diag beta, diag|beta|]],

whose trace is 4 ||beta||_1 and whose largest eigenvalue is 4 ||beta||_inf. With our definitions
(docs/engine.md; average: delta ~ N(0, rho^2 diag c^2); worst: max over ||delta / c||_2 <= rho):

    S_avg(rho) = 2 rho^2 ||beta||_1 + d rho^4            (exact at interpolation, X^T X = I)
    S_max(rho) / rho^2 -> lambda_max(C H C) / 2 = 2 ||beta||_inf

so the constants are 2 and 2 (the slides, whose L has no factor 2 in its Hessian, give 1 and 1).
Away from X^T X = I (the trained grid below) the rho -> 0 limits are tr(C H C) / 2 and
lambda_max(C H C) / 2 with the exact Hessian, computed here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn


class DiagonalLinearNet(nn.Module):
    """x -> x @ (u * v), parametrised as u = c_u * p_u, v = c_v * p_v for a fixed scale c: standard
    (c = 1) sharpness of this module in p is sharpness of the network in (u, v) with scaling c."""

    def __init__(self, u: Tensor, v: Tensor, scale: Tensor | None = None) -> None:
        super().__init__()
        c = torch.ones(2 * u.numel(), dtype=u.dtype) if scale is None else scale
        self.register_buffer("scale", c.clone())
        d = u.numel()
        self.p_u = nn.Parameter(u / c[:d])
        self.p_v = nn.Parameter(v / c[d:])

    def beta(self) -> Tensor:
        d = self.p_u.numel()
        return (self.scale[:d] * self.p_u) * (self.scale[d:] * self.p_v)

    def forward(self, x: Tensor) -> Tensor:
        return x @ self.beta()


def slides_scale(u: Tensor, v: Tensor) -> Tensor:
    """c = (sqrt(|u| / |v|), sqrt(|v| / |u|))."""
    return torch.cat([(u.abs() / v.abs()).sqrt(), (v.abs() / u.abs()).sqrt()])


def squared_loss(n: int):
    """Per-example loss whose mean over the n examples is ||X beta - y||_2^2."""

    def loss(outputs: Tensor, labels: Tensor) -> Tensor:
        return n * (outputs - labels) ** 2

    return loss


def scaled_hessian(x: Tensor, y: Tensor, u: Tensor, v: Tensor) -> Tensor:
    """C H C: the exact Hessian of ||X (u * v) - y||^2 in w = (u, v), scaled by the slides' c."""
    d = u.numel()

    def loss(w: Tensor) -> Tensor:
        return ((x @ (w[:d] * w[d:]) - y) ** 2).sum()

    h = torch.autograd.functional.hessian(loss, torch.cat([u, v]).double())
    c = slides_scale(u, v).double()
    return c[:, None] * h * c[None, :]


def limits(x: Tensor, y: Tensor, u: Tensor, v: Tensor) -> tuple[float, float]:
    """(S_avg / rho^2, S_max / rho^2) as rho -> 0: tr(C H C) / 2 and lambda_max(C H C) / 2."""
    h = scaled_hessian(x, y, u, v)
    return float(torch.trace(h)) / 2, float(torch.linalg.eigvalsh(h).max()) / 2


@dataclass(frozen=True)
class Problem:
    """Sparse regression: n training and n_test examples in d dimensions, k-sparse beta*."""

    n: int = 40
    d: int = 100
    k: int = 5
    n_test: int = 1000
    noise: float = 0.0
    seed: int = 0

    def data(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """X, y, X_test, y_test, beta* (Gaussian design, generated from the seed)."""
        rng = np.random.default_rng(self.seed)
        beta = np.zeros(self.d)
        beta[rng.choice(self.d, self.k, replace=False)] = rng.choice([-1.0, 1.0], self.k)
        x, x_test = rng.normal(size=(self.n, self.d)), rng.normal(size=(self.n_test, self.d))
        y = x @ beta + self.noise * rng.normal(size=self.n)
        return x, y, x_test, x_test @ beta, beta


def train_grid(problem: Problem, lrs: list[float], scales: list[float], steps: int) -> pd.DataFrame:
    """Gradient descent on (1/n) ||X (u * v) - y||^2 from u = v = alpha 1, for every (lr, alpha),
    all networks at once. One row per network: lr, alpha, train and test loss, ||beta||_1,
    ||beta||_inf and the rho -> 0 limits of average- and worst-case sharpness with the slides' c."""
    x, y, x_test, y_test, _ = problem.data()
    grid = [(lr, alpha) for lr in lrs for alpha in scales]
    lr = np.array([g[0] for g in grid])[:, None]
    u = np.array([np.full(problem.d, g[1]) for g in grid])
    v = u.copy()
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(steps):
            residual = (u * v) @ x.T - y  # (G, n)
            grad_beta = 2 / problem.n * residual @ x
            u, v = u - lr * grad_beta * v, v - lr * grad_beta * u
    rows = []
    for (g_lr, alpha), ui, vi in zip(grid, u, v, strict=True):
        beta = ui * vi
        row = {"lr": g_lr, "alpha": alpha, "train_loss": float(np.mean((x @ beta - y) ** 2)), "test_loss": float(np.mean((x_test @ beta - y_test) ** 2)),
               "l1": float(np.abs(beta).sum()), "linf": float(np.abs(beta).max()), "avg_limit": math.nan, "max_limit": math.nan}
        if np.isfinite(beta).all() and row["train_loss"] < 1e-2 and (ui != 0).all() and (vi != 0).all():
            t = [torch.from_numpy(a) for a in (x, y, ui, vi)]
            row["avg_limit"], row["max_limit"] = limits(*t)
        rows.append(row)
    return pd.DataFrame(rows)


VARIANTS = {"standard": (False, False), "standard-lognorm": (False, True), "adaptive": (True, False), "adaptive-lognorm": (True, True)}


def classifier_data(n: int = 256, d: int = 10, classes: int = 3, seed: int = 0) -> tuple[Tensor, Tensor]:
    """A bundled synthetic problem: a Gaussian mixture with ``classes`` unit-variance clusters."""
    generator = torch.Generator().manual_seed(seed)
    centres = 2.0 * torch.randn(classes, d, generator=generator)
    y = torch.arange(n) % classes
    return centres[y] + torch.randn(n, d, generator=generator), y


def fit_logistic(x: Tensor, y: Tensor, steps: int = 200, seed: int = 0) -> nn.Linear:
    """Multinomial logistic regression by full-batch gradient descent (a fixed, short schedule)."""
    torch.manual_seed(seed)
    model = nn.Linear(x.shape[1], int(y.max()) + 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(steps):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    return model.eval()


def classifier_scale(alphas: list[float], rho: float, n_samples: int, seed: int = 0) -> pd.DataFrame:
    """Average-case l2 sharpness of the fitted classifier with weights and bias scaled by alpha, for
    standard / adaptive sharpness with and without logit normalisation (the same noise draws for
    every alpha). One row per (alpha, variant): sharpness, clean loss and error (constant in alpha)."""
    from sharpgen.sharpness import Definition, compute_sharpness, split_batches

    x, y = classifier_data(seed=seed)
    base = fit_logistic(x, y, seed=seed).double()
    x = x.double()  # float64: the normalised loss changes by far less than float32's resolution
    rows = []
    for alpha in alphas:
        model = nn.Linear(base.in_features, base.out_features).double()
        with torch.no_grad():
            model.weight.copy_(alpha * base.weight)
            model.bias.copy_(alpha * base.bias)
        for variant, (adaptive, logit_norm) in VARIANTS.items():
            definition = Definition("average", "l2", rho=rho, adaptive=adaptive, logit_norm=logit_norm, m=len(x), n_samples=n_samples, seed=seed)
            result = compute_sharpness(model.eval(), split_batches(x, y, len(x)), definition, device="cpu")
            rows.append({"alpha": alpha, "variant": variant, "sharpness": result.sharpness_loss,
                         "clean_loss": result.clean_loss, "clean_error": result.clean_error})
    return pd.DataFrame(rows)
