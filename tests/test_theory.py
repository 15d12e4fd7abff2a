"""Diagonal linear networks: the rho -> 0 limits of our sharpness definitions against closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sharpgen.sharpness import Definition, compute_sharpness, split_batches
from sharpgen.theory import DiagonalLinearNet, Problem, limits, slides_scale, squared_loss, train_grid

D, N = 8, 16


@pytest.fixture(scope="module")
def interpolating() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """X with X^T X = I, an unbalanced (u, v) with u * v = beta, and y = X beta."""
    generator = torch.Generator().manual_seed(0)
    x, _ = torch.linalg.qr(torch.randn(N, D, generator=generator, dtype=torch.float64))
    beta = torch.tensor([1.0, -0.5, 0.3, 0.02, -0.01, 0.05, 0.2, -0.8], dtype=torch.float64)
    a = torch.exp(0.5 * torch.randn(D, generator=generator, dtype=torch.float64))
    u, v = beta.sign() * beta.abs().sqrt() * a, beta.abs().sqrt() / a
    return x, x @ beta, u, v, beta


def sharpness(model, x, y, definition: Definition) -> float:
    loss = squared_loss(N)
    return compute_sharpness(model, split_batches(x, y, N), definition, device="cpu", loss_fn=loss, error_fn=loss).sharpness_loss


def test_hessian_limits_are_the_l1_and_linf_norms(interpolating):
    x, y, u, v, beta = interpolating
    avg, worst = limits(x, y, u, v)
    assert avg == pytest.approx(2 * float(beta.abs().sum()), rel=1e-10)
    assert worst == pytest.approx(2 * float(beta.abs().max()), rel=1e-10)


@pytest.mark.parametrize("rho", [1e-3, 1e-4])
def test_worst_case_sharpness_over_rho_squared_is_twice_the_linf_norm(interpolating, rho):
    x, y, u, v, beta = interpolating
    model = DiagonalLinearNet(u, v, slides_scale(u, v))  # standard sharpness in p = adaptive with c in (u, v)
    definition = Definition("worst", "l2", rho=rho, adaptive=False, logit_norm=False, m=N, n_iters=50)
    value = sharpness(model, x, y, definition) / rho**2
    print(f"rho={rho:g}: S_max / rho^2 = {value:.6f}, 2 ||beta||_inf = {2 * float(beta.abs().max()):.6f}")
    assert value == pytest.approx(2 * float(beta.abs().max()), rel=1e-3)


def test_average_case_sharpness_is_its_closed_form(interpolating):
    """S_avg(rho) = 2 rho^2 ||beta||_1 + d rho^4 exactly (Gaussian moments); the engine's Monte Carlo
    estimate agrees within 5 standard errors, and S_avg / rho^2 -> 2 ||beta||_1 to 1e-3 at small rho."""
    x, y, u, v, beta = interpolating
    model = DiagonalLinearNet(u, v, slides_scale(u, v))
    rho, l1 = 1e-2, float(beta.abs().sum())
    runs = [
        sharpness(model, x, y, Definition("average", "l2", rho=rho, adaptive=False, logit_norm=False, m=N, n_samples=200, seed=s)) / rho**2
        for s in range(10)
    ]
    closed = 2 * l1 + D * rho**2
    assert abs(np.mean(runs) - closed) < 5 * np.std(runs, ddof=1) / math.sqrt(len(runs))
    small = 1e-3
    assert (2 * l1 + D * small**2) == pytest.approx(2 * l1, rel=1e-3)


def test_the_grid_ranks_test_loss_by_the_l1_norm_and_average_sharpness():
    frame = train_grid(Problem(n=25, d=50, k=3), [0.05, 0.1], [0.01, 0.5, 1.0], 8000)
    kept = frame.dropna()
    assert len(kept) >= 4
    assert kept["avg_limit"].rank().tolist() == kept["l1"].rank().tolist()
    small = kept[kept["alpha"] == 0.01]
    assert (small["test_loss"] < kept[kept["alpha"] == 1.0]["test_loss"].min()).all()  # small init: sparse


def test_adaptive_sharpness_vanishes_with_the_classifier_scale_unless_logits_are_normalised():
    from sharpgen.theory import classifier_scale

    frame = classifier_scale([1.0, 10.0, 100.0, 1000.0], rho=0.5, n_samples=2)
    wide = frame.pivot(index="alpha", columns="variant", values="sharpness")
    assert (frame.groupby("alpha")["clean_error"].first() == frame["clean_error"].iloc[0]).all()  # same classifier
    # without normalisation, adaptive sharpness goes to 0 as alpha grows
    assert abs(wide.loc[1000.0, "adaptive"]) < 1e-6 < abs(wide.loc[1.0, "adaptive"])
    # with it, it does not depend on alpha at all (the perturbation scales with the weights)
    assert wide["adaptive-lognorm"].to_numpy() == pytest.approx(wide.loc[1.0, "adaptive-lognorm"], rel=1e-9)
    assert wide.loc[1.0, "adaptive-lognorm"] > 1e-4
    # standard sharpness (a fixed radius) shrinks with the scale, normalised or not
    assert wide.loc[1000.0, "standard-lognorm"] < wide.loc[10.0, "standard-lognorm"] < wide.loc[1.0, "standard-lognorm"]
