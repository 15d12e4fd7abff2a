"""Tau over random subsets of models, and the radius check (sharpgen.subsets, sharpgen.radius)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sharpgen import radius, subsets


def discrete_population(n: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Sharpness and a discrete error (ties, as test errors have), weakly correlated."""
    rng = np.random.default_rng(seed)
    x = rng.lognormal(size=n)
    y = np.round(0.05 + 0.02 * np.log(x) + rng.normal(0, 0.03, n), 2)
    return x, y


def test_tau_over_subsets_equals_scipy_on_each_subset():
    x, y = discrete_population()
    draws = subsets.draw_subsets(len(x), 12, 1000, seed=3)
    taus = subsets.tau_subsets(x, y, draws)
    assert taus.shape == (1000,) and np.isfinite(taus).all()
    for i in (0, 1, 417, 999):
        expected = stats.kendalltau(x[draws[i]], y[draws[i]], variant="b").statistic
        assert taus[i] == pytest.approx(expected, abs=1e-12)


def test_subsets_are_seeded_uniform_draws_without_replacement():
    a = subsets.draw_subsets(10, 4, 5000, seed=0)
    assert np.array_equal(a, subsets.draw_subsets(10, 4, 5000, seed=0))
    assert not np.array_equal(a, subsets.draw_subsets(10, 4, 5000, seed=1))
    assert all(len(set(row)) == 4 and list(row) == sorted(row) for row in a[:200])
    share = np.bincount(a.ravel(), minlength=10) / a.size  # each model in 4/10 of the subsets
    assert np.allclose(share, 0.1, atol=0.01)
    with pytest.raises(ValueError, match="1 <= k <= n"):
        subsets.draw_subsets(3, 4, 10, seed=0)


def test_subset_table_gives_quantiles_tau_over_all_and_over_the_first_k():
    x, y = discrete_population(30)
    ids = [f"m{i:02d}" for i in range(30)]
    measures = pd.DataFrame({"model_id": ids, "measure": "sharp", "value": x})
    targets = pd.concat([pd.DataFrame({"model_id": ids, "target": "test_error", "value": y}),
                         pd.DataFrame({"model_id": ids[:5], "target": "few", "value": y[:5]})])
    table, taus = subsets.subset_table(measures, targets.sample(frac=1, random_state=0), k=10, draws=500, seed=0)
    row = table.set_index("target").loc["test_error"]
    assert row["n_models"] == 30 and row["k"] == 10 and row["draws"] == 500
    assert row["tau_all"] == pytest.approx(stats.kendalltau(x, y).statistic)
    assert row["tau_first"] == pytest.approx(stats.kendalltau(x[:10], y[:10]).statistic)  # m00..m09
    values = taus[("sharp", "test_error")]
    assert [row[c] for c in subsets.QUANTILE_COLUMNS] == pytest.approx(np.quantile(values, subsets.QUANTILES).tolist())
    assert row["q05"] < row["q50"] < row["q95"] and row["mean"] == pytest.approx(values.mean())
    few = table.set_index("target").loc["few"]  # 5 models, k = 10: nothing to choose
    assert few["n_models"] == 5 and math.isnan(few["q50"]) and ("sharp", "few") not in taus
    text = subsets.markdown_section(table.assign(setting="s"), "s")
    assert "| sharp | test_error | 30 |" in text and "5%" in text and "95%" in text


def test_histogram_figure_saves_the_same_bytes_twice(tmp_path):
    from sharpgen.figures import plot_tau_histograms, save_figure

    x, y = discrete_population()
    taus = subsets.tau_subsets(x, y, subsets.draw_subsets(len(x), 12, 300, seed=0))
    rows = {"adaptive-lognorm": {"test error": (taus, 0.2, 0.1), "ood error": (taus, 0.3, float("nan"))},
            "adaptive": {"test error": (taus, 0.1, 0.0), "ood error": (taus, 0.0, 0.1)}}
    fig = plot_tau_histograms(rows, 12, suptitle="s")
    assert fig.axes[0].get_ylabel() == "adaptive-lognorm\nsubsets" and fig.axes[2].get_ylabel() == "adaptive\nsubsets"
    assert "median" in fig.axes[0].get_title()
    save_figure(fig, tmp_path / "a.png")
    save_figure(plot_tau_histograms(rows, 12, suptitle="s"), tmp_path / "b.png")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_checked_models_spread_over_the_sheet():
    ids = [f"bert_{i:02d}" for i in range(50)]
    assert radius.checked_models(ids, 4) == ["bert_00", "bert_16", "bert_33", "bert_49"]
    assert radius.checked_models(ids, 0) == ids and radius.checked_models(ids[:3], 5) == ids[:3]
    assert radius.checked_models(ids, 1) == ["bert_00"]


def test_mc_error_of_the_median_matches_its_normal_approximation():
    sems = np.full(101, 0.01)
    # the median of n normal errors of sd s has sd ~ s sqrt(pi / (2 n))
    assert radius.median_mc_error(np.zeros(101), sems) == pytest.approx(0.01 * math.sqrt(math.pi / 202), rel=0.1)
    assert radius.median_mc_error(np.array([0.3]), np.array([0.02])) == pytest.approx(0.02, rel=0.05)
    assert math.isnan(radius.median_mc_error(np.zeros(2), np.array([0.1, math.nan])))


@pytest.fixture(scope="module")
def digits_classifier():
    """A linear classifier fitted to scikit-learn's bundled digits, and 256 training images."""
    import torch
    from sklearn.datasets import load_digits

    torch.manual_seed(0)
    data = load_digits()
    x = torch.tensor(data.data[:256] / 16.0, dtype=torch.float32)
    y = torch.tensor(data.target[:256])
    model = torch.nn.Linear(64, 10)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(200):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    return model.eval(), x, y


def test_radius_check_flags_noise_and_saturation_on_a_real_model(digits_classifier):
    from sharpgen.jobs.sharpness import result_row
    from sharpgen.sharpness import Definition, compute_sharpness, split_batches

    model, x, y = digits_classifier
    definitions = [
        Definition("average", "l2", rho=1e-7, adaptive=False, logit_norm=False, m=32, n_samples=2),  # first-order noise only
        Definition("average", "l2", rho=100.0, adaptive=False, logit_norm=False, m=32, n_samples=2),  # random logits
        Definition("worst", "linf", rho=0.05, adaptive=True, logit_norm=False, m=32, n_iters=5),
    ]
    rows = [result_row("digits", "linear", compute_sharpness(model, split_batches(x, y, 32), d, device="cpu"), "")
            for d in definitions]
    # at rho = 1e-7 the mean over 8 batches is -2.2 standard errors from 0 by chance: 3 is the strict test
    table = radius.radius_check(pd.DataFrame(rows), classes=10, noise=3.0).set_index("rho")
    assert table.loc[1e-7, "flag"] == "lost in noise" and abs(table.loc[1e-7, "loss_increase"]) < 1e-6
    assert table.loc[100.0, "flag"] == "saturated" and table.loc[100.0, "perturbed_error"] >= 0.81
    assert table.loc[0.05, "flag"] == "ok" and table.loc[0.05, "loss_increase"] > 0
    assert table.loc[0.05, "loss_increase_mc"] == pytest.approx(rows[2]["sharpness_loss_sem"], rel=0.1)  # one model
    assert (table["chance_error"] == 0.9).all() and (table["n_models"] == 1).all()
    text = radius.markdown_section(table.reset_index().assign(setting="digits"), "digits")
    assert "lost in noise" in text and "saturated" in text and "| definition | rho |" in text
