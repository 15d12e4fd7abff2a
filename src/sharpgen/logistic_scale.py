"""The authors' linear-model example (their ``notebooks/sharpness_linear_model.ipynb``), rebuilt.

Binary logistic regression f(x) = <w, x> (no bias) on two Gaussians at +-v / ||v|| (d = 100,
standard deviation 0.025, 50 training and 1,000 test points; the first half of the points is
drawn around +v/||v|| with label -1, the second around -v/||v|| with label +1, then shuffled),
full-batch gradient descent with step 5.0 for 100 iterations from w ~ N(0, I) / 500, the trained
weights then multiplied by alpha (30 values 2^-10 .. 2^10). The notebook draws everything from
NumPy's global generator after ``np.random.seed(0)`` in the order: v, the two clusters, the
permutation, w_init; ``numpy.random.RandomState(seed)`` gives the same stream.

Worst-case l2 sharpness with m = 1 has a closed form for a linear model (docs/theory.md): over
{delta : ||delta / c||_2 <= rho} the margin y <w + delta, x> is smallest at
delta = -y rho c^2 x / ||c x||_2, where it is y <w, x> - rho ||c x||_2, and the logistic loss is
decreasing in the margin, so

    S_max = mean_i [ l(y_i <w, x_i> - rho ||c x_i||_2) - l(y_i <w, x_i>) ],  l(z) = log(1 + e^-z).

Scalings c: ``elementwise`` (c = |w|, the paper's adaptive sharpness, what the engine computes)
and ``norm`` (c = ||w||_2 for every coordinate: the notebook's ``rho_weight_norm_fraction``, a
ball of radius rho ||w||_2). Logit normalisation of the single binary logit (the notebook's
``logit_normalization``) replaces f by f / |f| = sign(f); the worst case is then a step function
of the margin, so S_max is the fraction of points whose margin the perturbation can bring to
<= 0, times l(-1) - l(1) = 1: it does not depend on alpha.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

SCALINGS = ("elementwise", "norm")
ALPHAS = tuple(float(a) for a in np.logspace(-10, 10, num=30, base=2))
RHOS = (0.1, 0.25, 0.5)


def gaussians(n: int, d: int, std: float, rng: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
    """The notebook's data: n points around -+v/||v|| (labels -1 / +1), shuffled."""
    v = rng.randn(d)
    v /= np.sqrt((v**2).sum())
    x = np.concatenate([v + std * rng.randn(n // 2, d), -v + std * rng.randn(n // 2, d)])
    y = np.concatenate([-np.ones(n // 2), np.ones(n // 2)])
    order = rng.permutation(np.arange(n))
    return x[order], y[order]


def logistic(margin: np.ndarray) -> np.ndarray:
    """l(z) = log(1 + exp(-z)), stable for large |z|."""
    return np.logaddexp(0.0, -margin)


def fit(seed: int = 0, n_train: int = 50, n_test: int = 1000, d: int = 100, std: float = 0.025,
        step: float = 5.0, iters: int = 100) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(w, x_train, y_train, x_test, y_test): the notebook's data and gradient descent."""
    rng = np.random.RandomState(seed)
    x, y = gaussians(n_train + n_test, d, std, rng)
    w = rng.randn(d) / 500
    x_train, y_train = x[:n_train], y[:n_train]
    for _ in range(iters):
        margin = y_train * (x_train @ w)
        w = w - step * np.mean((-y_train / (1 + np.exp(margin)))[:, None] * x_train, 0)
    return w, x_train, y_train, x[n_train:], y[n_train:]


def scaling(w: np.ndarray, kind: str) -> np.ndarray:
    """c for ``kind``: |w| (elementwise) or ||w||_2 in every coordinate (norm)."""
    if kind == "elementwise":
        return np.abs(w)
    if kind == "norm":
        return np.full_like(w, np.sqrt((w**2).sum()))
    raise ValueError(f"scaling must be one of {list(SCALINGS)}, got {kind!r}")


def worst_sharpness(w: np.ndarray, x: np.ndarray, y: np.ndarray, rho: float, kind: str, logit_norm: bool = False) -> float:
    """Closed-form worst-case l2 sharpness with m = 1 (module docstring)."""
    margin = y * (x @ w)
    worst = margin - rho * np.sqrt(((scaling(w, kind) * x) ** 2).sum(1))
    if logit_norm:
        margin, worst = np.sign(margin), np.sign(worst)
    return float(np.mean(logistic(worst) - logistic(margin)))


def sweep(seed: int = 0, alphas: tuple[float, ...] = ALPHAS, rhos: tuple[float, ...] = RHOS) -> pd.DataFrame:
    """One row per (scaling, logit_norm, rho, alpha): the closed-form sharpness, the clean training
    loss and the test error (which alpha does not change)."""
    w, x, y, x_test, y_test = fit(seed)
    test_error = float(np.mean(np.sign(x_test @ w) != y_test))
    rows = []
    for kind in SCALINGS:
        for logit_norm in (False, True):
            for rho in rhos:
                for alpha in alphas:
                    margin = y * (x @ (alpha * w))
                    clean = np.sign(margin) if logit_norm else margin
                    rows.append({
                        "scaling": kind, "logit_norm": logit_norm, "rho": float(rho), "alpha": float(alpha),
                        "sharpness": worst_sharpness(alpha * w, x, y, rho, kind, logit_norm),
                        "clean_loss": float(np.mean(logistic(clean))), "test_error": test_error,
                    })
    return pd.DataFrame(rows)


def flip_radius(w: np.ndarray, x: np.ndarray, y: np.ndarray, kind: str) -> float:
    """The smallest rho at which the worst case brings some margin to 0: min_i y_i <w, x_i> / ||c x_i||_2
    (below it logit-normalised sharpness is 0; it does not depend on alpha)."""
    return float(np.min(y * (x @ w) / np.sqrt(((scaling(w, kind) * x) ** 2).sum(1))))


class BinaryLinear(nn.Module):
    """f(x) = <w, x> as the two logits (-f/2, f/2): cross-entropy with label 1 for y = +1 and 0
    for y = -1 is log(1 + exp(-y f)), so the engine sees the notebook's model and loss."""

    def __init__(self, w: Tensor) -> None:
        super().__init__()
        self.weight = nn.Parameter(w.clone())

    def forward(self, x: Tensor) -> Tensor:
        f = x @ self.weight
        return torch.stack([-f / 2, f / 2], dim=1)
