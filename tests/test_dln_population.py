"""The diagonal-linear-network population: the expected outcome of the theory, and the engine's
finite-rho sharpness of one network against the exact-Hessian limits."""

from __future__ import annotations

import pytest
import torch

from sharpgen.dln_population import Population, engine_sharpness, kendall_taus, study, train
from sharpgen.theory import limits

SMALL = Population(lrs=(0.05,), alphas=(0.05, 0.3, 1.0), seeds=(0, 1, 2))


def test_the_l1_quantity_ranks_test_loss_better_than_the_linf_one_on_a_sparse_ground_truth():
    frame = study(SMALL, engine=False)
    assert len(frame) == 9 and (frame["train_loss"] <= SMALL.target_loss).all()
    _, _, _, _, beta_star = SMALL.data()
    assert (beta_star == 0).mean() == 0.9
    # small initialisations give sparse interpolators close to beta*, large ones dense and far off
    by_alpha = frame.groupby("alpha")["test_loss"].mean()
    assert by_alpha.is_monotonic_increasing and by_alpha.iloc[0] < 0.1 * by_alpha.iloc[-1]
    taus = kendall_taus(frame, ["l1_limit", "linf_limit"])
    assert taus["l1_limit"] > 0.8 and taus["l1_limit"] > taus["linf_limit"] + 0.5
    again = study(SMALL, engine=False)
    assert again.equals(frame)  # reproducible from the seeds


def test_engine_sharpness_of_one_network_approaches_the_exact_hessian_limits():
    population = Population(lrs=(0.05,), alphas=(0.1,), seeds=(0,))
    x, y, _, _, _ = population.data()
    _, u, v, _ = train(population)
    rho = 0.01
    avg, worst = engine_sharpness(x, y, u[0], v[0], rho, rho, 400, 0)
    avg_limit, max_limit = limits(*(torch.from_numpy(a) for a in (x, y, u[0], v[0])))
    n = len(y)  # limits() is for the sum of squares, the engine here for the mean
    assert avg / rho**2 == pytest.approx(avg_limit / n, rel=0.05)
    assert 0.8 * max_limit / n <= worst / rho**2 <= 1.01 * max_limit / n
