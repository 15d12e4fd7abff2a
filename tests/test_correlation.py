"""Tests for sharpgen.correlation: Kendall variants, tables, granulated tau, Markdown."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sharpgen.correlation import (
    granulated_kendall,
    kendall,
    kendall_table,
    kendall_tau_a,
    markdown_table,
    tau_b_vectorized,
    tau_statistics,
)


def brute_tau_a(x, y) -> float:
    """Tau-a by the double loop of the definition."""
    m = len(x)
    total = sum(np.sign(x[i] - x[j]) * np.sign(y[i] - y[j]) for i in range(m) for j in range(i + 1, m))
    return 2.0 * total / (m * (m - 1))


@pytest.fixture
def tied() -> tuple[np.ndarray, np.ndarray]:
    """Random data with many ties in both vectors (errors are discrete)."""
    rng = np.random.default_rng(7)
    x = rng.integers(0, 6, 40).astype(float)
    y = (x + rng.integers(0, 4, 40)).astype(float)
    return x, y


def test_kendall_matches_scipy_with_ties(tied):
    x, y = tied
    tau_b, _, p = kendall(x, y)
    expected = stats.kendalltau(x, y, variant="b")
    assert tau_b == pytest.approx(expected.statistic, abs=1e-12)
    assert p == pytest.approx(expected.pvalue, rel=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tau_a_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 5, 25).astype(float)
    y = rng.normal(size=25).round(1)
    assert kendall_tau_a(x, y) == pytest.approx(brute_tau_a(x, y), abs=1e-12)
    assert kendall(x, y)[1] == pytest.approx(brute_tau_a(x, y), abs=1e-12)


def test_tau_a_differs_from_tau_b_with_ties(tied):
    tau_b, tau_a, _ = kendall(*tied)
    assert abs(tau_a) < abs(tau_b)
    assert tau_a == pytest.approx(brute_tau_a(*tied))


def test_tau_a_edge_cases():
    assert math.isnan(kendall_tau_a([1.0], [2.0]))
    assert kendall_tau_a([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]) == 0.0
    assert math.isnan(kendall_tau_a([1.0, np.nan], [1.0, 2.0]))
    with pytest.raises(ValueError):
        kendall_tau_a([1.0, 2.0], [1.0])


def test_perfect_concordance_and_discordance():
    x = np.arange(10.0)
    assert kendall(x, 2 * x + 1)[:2] == pytest.approx((1.0, 1.0))
    assert kendall(x, -x)[:2] == pytest.approx((-1.0, -1.0))


def test_kendall_drops_nan_pairs(tied):
    x, y = tied
    x_nan, y_nan = x.copy(), y.copy()
    x_nan[[0, 5]] = np.nan
    y_nan[[3]] = np.nan
    keep = np.ones(x.size, bool)
    keep[[0, 3, 5]] = False
    assert kendall(x_nan, y_nan) == pytest.approx(kendall(x[keep], y[keep]))


@pytest.mark.parametrize(
    ("x", "y"),
    [
        ([1.0, 2.0], [2.0, 1.0]),
        ([1.0, 2.0, np.nan, 4.0], [1.0, np.nan, 3.0, 4.0]),
        ([3.0, 3.0, 3.0, 3.0], [1.0, 2.0, 3.0, 4.0]),
        ([1.0, 2.0, 3.0, 4.0], [0.5, 0.5, 0.5, 0.5]),
        ([], []),
    ],
)
def test_kendall_degenerate_is_nan_without_warnings(x, y):
    # pytest turns warnings into errors (pyproject filterwarnings).
    assert all(math.isnan(v) for v in kendall(x, y))


@pytest.fixture
def long_tables() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Twelve models, two measures, two targets, arch and augment groups."""
    rng = np.random.default_rng(3)
    ids = [f"m{i:02d}" for i in range(12)]
    groups = pd.DataFrame({"model_id": ids, "arch": ["vit", "resnet"] * 6, "augment": [True] * 4 + [False] * 8})
    measures = pd.concat(
        [pd.DataFrame({"model_id": ids, "measure": name, "value": rng.normal(size=12)}) for name in ["worst", "avg"]]
    )
    targets = pd.concat(
        [
            pd.DataFrame({"model_id": ids, "target": name, "value": rng.integers(0, 5, 12) / 10})
            for name in ["test_error", "ood_error"]
        ]
    )
    # One model has no test_error: the inner join must drop it.
    targets = targets[~((targets.model_id == "m11") & (targets.target == "test_error"))]
    return measures.sample(frac=1, random_state=0), targets.sample(frac=1, random_state=0), groups


def test_kendall_table_rows_and_sorting(long_tables):
    table = kendall_table(*long_tables, group_by=["arch", "augment"])
    assert list(table.columns) == [
        "measure", "target", "subgroup", "n_models", "tau_b", "tau_a", "p_value", "ci_low", "ci_high", "p_perm"
    ]
    assert table[["ci_low", "ci_high", "p_perm"]].isna().all().all()  # resamples=0: no resampling
    subgroups = ["all", "arch=resnet", "arch=vit", "augment=False", "augment=True"]
    expected_keys = list(itertools.product(["avg", "worst"], ["ood_error", "test_error"], subgroups))
    assert list(table[["measure", "target", "subgroup"]].itertuples(index=False, name=None)) == expected_keys
    counts = table.set_index(["measure", "target", "subgroup"])["n_models"]
    assert counts[("worst", "ood_error", "all")] == 12
    assert counts[("worst", "test_error", "all")] == 11
    assert counts[("worst", "test_error", "arch=resnet")] == 5
    assert counts[("avg", "ood_error", "augment=True")] == 4


def test_kendall_table_subgroup_equals_kendall_on_subset(long_tables):
    measures, targets, groups = long_tables
    table = kendall_table(measures, targets, groups, group_by=["arch"])
    row = table[(table.measure == "worst") & (table.target == "test_error") & (table.subgroup == "arch=resnet")]
    resnets = set(groups.model_id[groups.arch == "resnet"])
    m = measures[(measures.measure == "worst") & measures.model_id.isin(resnets)].set_index("model_id").value
    t = targets[(targets.target == "test_error") & targets.model_id.isin(resnets)].set_index("model_id").value
    common = sorted(set(m.index) & set(t.index))
    expected = kendall(m[common], t[common])
    got = tuple(row[["tau_b", "tau_a", "p_value"]].iloc[0])
    assert got == pytest.approx(expected, nan_ok=True)
    assert not math.isnan(got[0])


def test_kendall_table_is_order_independent(long_tables):
    measures, targets, groups = long_tables
    first = kendall_table(measures, targets, groups, ["augment"])
    second = kendall_table(measures[::-1], targets[::-1], groups[::-1], ["augment"])
    pd.testing.assert_frame_equal(first, second)


def test_kendall_table_rejects_duplicate_models(long_tables):
    measures, targets, groups = long_tables
    with pytest.raises(pd.errors.MergeError):
        kendall_table(pd.concat([measures, measures.head(1)]), targets, groups, ["arch"])


def factorial_grid() -> pd.DataFrame:
    """2 x 3 grid (augment x lr): sharpness rises with lr, falls with augment.

    The error rises with both, so sharpness is concordant with the error along
    lr (psi_lr = +1) and discordant along augment (psi_augment = -1).
    """
    rows = []
    for augment, lr in itertools.product([0, 1], [0.01, 0.1, 1.0]):
        rows.append({"augment": augment, "lr": lr, "sharpness": 10 * lr - 100 * augment, "error": lr + augment})
    return pd.DataFrame(rows)


def test_granulated_kendall_by_hand():
    result = granulated_kendall(factorial_grid(), "sharpness", "error", ["augment", "lr"]).set_index("axis")
    assert list(result.index) == ["augment", "lr", "Psi"]
    # augment: one group per lr value (3), each a pair ordered oppositely -> tau = -1.
    assert result.loc["augment", "psi"] == pytest.approx(-1.0)
    assert result.loc["augment", "n_groups"] == 3
    # lr: one group per augment value (2), each 3 models ordered the same way -> tau = +1.
    assert result.loc["lr", "psi"] == pytest.approx(1.0)
    assert result.loc["lr", "n_groups"] == 2
    assert result.loc["Psi", "psi"] == pytest.approx(0.0)
    assert result["n_skipped"].sum() == 0


def test_granulated_kendall_mixed_groups():
    frame = factorial_grid()
    # Within augment=1, reverse the lr ordering of the error: that group gives tau = -1.
    frame.loc[frame.augment == 1, "error"] = 1 + frame.loc[frame.augment == 1, "lr"].map({0.01: 3, 0.1: 2, 1.0: 1})
    result = granulated_kendall(frame, "sharpness", "error", ["augment", "lr"]).set_index("axis")
    assert result.loc["lr", "psi"] == pytest.approx((1.0 + -1.0) / 2)
    # augment groups: errors (0.01 vs 4), (0.1 vs 3), (1.0 vs 2) all rise; sharpness falls -> -1.
    assert result.loc["augment", "psi"] == pytest.approx(-1.0)
    assert result.loc["Psi", "psi"] == pytest.approx(-0.5)


def test_granulated_kendall_missing_cells_and_constant_groups():
    frame = factorial_grid()
    # Drop (augment=1, lr=1.0): the augment group at lr=1.0 becomes a singleton.
    frame = frame[~((frame.augment == 1) & (frame.lr == 1.0))].copy()
    # Constant error at lr=0.1 makes that augment group's tau nan.
    frame.loc[frame.lr == 0.1, "error"] = 5.0
    result = granulated_kendall(frame, "sharpness", "error", ["augment", "lr"]).set_index("axis")
    assert result.loc["augment", "n_groups"] == 1
    assert result.loc["augment", "n_skipped"] == 2
    assert result.loc["augment", "psi"] == pytest.approx(-1.0)
    # lr groups: augment=0 has 3 models (tau = 1/3 after the edit), augment=1 has 2 (tau = +1).
    expected_lr = [stats.kendalltau(g.sharpness, g.error).statistic for _, g in frame.groupby("augment")]
    assert expected_lr == pytest.approx([1 / 3, 1.0])
    assert result.loc["lr", "psi"] == pytest.approx(np.mean(expected_lr))
    assert result.loc["lr", "n_groups"] == 2
    assert result.loc["Psi", "n_groups"] == 3
    assert result.loc["Psi", "n_skipped"] == 2
    assert result.loc["Psi", "psi"] == pytest.approx((-1.0 + np.mean(expected_lr)) / 2)


def test_granulated_kendall_axis_without_groups_is_nan():
    frame = factorial_grid()
    frame["error"] = np.where(frame.augment == 1, 1.0, 0.0)  # constant along lr
    result = granulated_kendall(frame, "sharpness", "error", ["augment", "lr"]).set_index("axis")
    assert math.isnan(result.loc["lr", "psi"])
    assert result.loc["lr", "n_skipped"] == 2
    assert result.loc["Psi", "psi"] == pytest.approx(result.loc["augment", "psi"])


def test_markdown_table_shape_and_format():
    table = pd.DataFrame(
        {
            "measure": ["avg", "avg", "worst", "worst", "worst"],
            "target": ["test_error", "ood_error", "test_error", "ood_error", "test_error"],
            "subgroup": ["all", "all", "all", "all", "arch=vit"],
            "tau_b": [0.123, np.nan, -0.5, -0.001, 0.9],
        }
    )
    text = markdown_table(table)
    assert text == (
        "| measure | test_error | ood_error |\n"
        "| --- | ---: | ---: |\n"
        "| avg | 0.12 | — |\n"
        "| worst | -0.50 | 0.00 |\n"
    )
    assert markdown_table(table) == text
    vit = markdown_table(table, subgroup="arch=vit", digits=3)
    assert vit.splitlines()[-1] == "| worst | 0.900 |"


def test_markdown_table_missing_cell_and_duplicates():
    table = pd.DataFrame(
        {"measure": ["a", "b"], "target": ["t1", "t2"], "subgroup": ["all", "all"], "tau_b": [0.5, 0.25]}
    )
    lines = markdown_table(table).splitlines()
    assert lines[2:] == ["| a | 0.50 | — |", "| b | — | 0.25 |"]
    with pytest.raises(ValueError):
        markdown_table(pd.concat([table, table]))


def test_group_by_with_a_plus_makes_one_subgroup_per_combination() -> None:
    ids = [f"m{i}" for i in range(8)]
    measures = pd.DataFrame({"model_id": ids, "measure": "s", "value": [float(i) for i in range(8)]})
    targets = pd.DataFrame({"model_id": ids, "target": "test_error", "value": [0.1, 0.3, 0.2, 0.4, 0.5, 0.7, 0.6, 0.8]})
    groups = pd.DataFrame({"model_id": ids, "family": ["r"] * 4 + ["v"] * 4, "augment": [False, True] * 4})
    table = kendall_table(measures, targets, groups, ["family", "family+augment"])
    assert list(table["subgroup"]) == ["all", "family=r", "family=v", "family=r,augment=False", "family=r,augment=True",
                                       "family=v,augment=False", "family=v,augment=True"]
    assert table.set_index("subgroup").loc["family=v,augment=True", "n_models"] == 2


def test_tau_b_vectorized_matches_scipy_on_stacks(tied):
    x, y = tied
    rng = np.random.default_rng(0)
    idx = rng.integers(0, x.size, (7, x.size))
    got = tau_b_vectorized(x[idx], y[idx], axis=-1)
    expected = [stats.kendalltau(x[i], y[i]).statistic for i in idx]
    assert got == pytest.approx(expected, abs=1e-12)
    assert tau_b_vectorized(x[idx].T, y[idx].T, axis=0) == pytest.approx(expected, abs=1e-12)
    assert math.isnan(tau_b_vectorized(np.ones(5), np.arange(5.0)))


def test_tau_statistics_equal_scipy_called_directly(tied):
    x, y = tied

    def tau(a, b):
        return stats.kendalltau(a, b).statistic

    boot = stats.bootstrap((x, y), tau, paired=True, vectorized=False, n_resamples=199, method="percentile", rng=np.random.default_rng(5))
    perm = stats.permutation_test((x, y), tau, permutation_type="pairings", vectorized=False, n_resamples=199, rng=np.random.default_rng(5))
    low, high, p = tau_statistics(x, y, resamples=199, seed=5)
    assert (low, high) == pytest.approx((boot.confidence_interval.low, boot.confidence_interval.high), abs=1e-12)
    assert p == pytest.approx(perm.pvalue, abs=1e-12)
    assert low < kendall(x, y)[0] < high
    assert tau_statistics(x, y, resamples=199, seed=5) == (low, high, p)  # seeded


def test_permutation_p_value_by_hand():
    # 4 models: 24 pairings, enumerated exactly. Only the identity gives tau = +1 and only the
    # reversal tau = -1, so the two-sided p-value of a perfect ordering is 2/24.
    _, _, p = tau_statistics([1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 30.0, 40.0], resamples=999)
    assert p == pytest.approx(2 / 24)
    # x = (1, 2, 3, 4), y = (1, 3, 2, 4): tau = 4/6; |tau| >= 4/6 for 8 of 24 pairings
    # (tau = +-1: 2; one adjacent swap from either end: 3 + 3), so p = 8/24.
    _, _, p = tau_statistics([1.0, 2.0, 3.0, 4.0], [1.0, 3.0, 2.0, 4.0], resamples=999)
    assert p == pytest.approx(8 / 24)


def test_bootstrap_interval_of_a_perfect_ordering_is_one_point():
    x = np.arange(20.0)
    low, high, p = tau_statistics(x, 3 * x, resamples=199)
    assert (low, high) == (1.0, 1.0)
    assert p <= 2 / 200  # two-sided, the observed pairing counted: the smallest p of 199 permutations


def test_bootstrap_interval_is_nan_with_too_few_models():
    low, high, _ = tau_statistics([1.0, 2.0, 3.0, 4.0], [1.0, 3.0, 2.0, 4.0], resamples=199)
    assert math.isnan(low) and math.isnan(high)


def test_kendall_table_with_resampling_matches_tau_statistics(long_tables):
    measures, targets, groups = long_tables
    table = kendall_table(measures, targets, groups, ["arch"], resamples=99, seed=2)
    row = table[(table.measure == "avg") & (table.target == "ood_error") & (table.subgroup == "all")].iloc[0]
    m = measures[measures.measure == "avg"].set_index("model_id").value.sort_index()
    t = targets[targets.target == "ood_error"].set_index("model_id").value.sort_index()
    assert (row.ci_low, row.ci_high, row.p_perm) == pytest.approx(tau_statistics(m, t, 99, seed=2), nan_ok=True)
    assert row.p_perm > 0


def test_granulated_psi_a_counts_ties_as_zero():
    # One axis (lr) within two augment groups; errors tie for two of three models in group 0.
    frame = factorial_grid()
    frame.loc[frame.augment == 0, "error"] = [0.1, 0.1, 0.2]
    result = granulated_kendall(frame, "sharpness", "error", ["augment", "lr"]).set_index("axis")
    # group augment=0: sharpness (0.1, 1, 10), error (0.1, 0.1, 0.2): pairs (+0, +1, +1)
    # tau-a = 2/3; tau-b = 2 / sqrt(3 * 2) = 0.8165; group augment=1: both +1.
    assert result.loc["lr", "psi_a"] == pytest.approx((2 / 3 + 1) / 2)
    assert result.loc["lr", "psi"] == pytest.approx((2 / np.sqrt(6) + 1) / 2)
    assert result.loc["Psi", "psi_a"] == pytest.approx((result.loc["lr", "psi_a"] + result.loc["augment", "psi_a"]) / 2)


def test_markdown_table_with_interval():
    table = pd.DataFrame(
        {"measure": ["a", "b"], "target": ["t", "t"], "subgroup": ["all", "all"], "tau_b": [0.5, 0.25],
         "ci_low": [0.1, np.nan], "ci_high": [0.7, np.nan]}
    )
    lines = markdown_table(table, interval=True).splitlines()
    assert lines[2:] == ["| a | 0.50 [0.10, 0.70] |", "| b | 0.25 |"]


def test_infinite_values_rank_as_largest_and_tie():
    x = [1.0, np.inf, 2.0, np.inf, 0.5]
    y = [1.0, 5.0, 2.0, 4.0, 0.0]
    tau_b, tau_a, _ = kendall(x, y)
    assert tau_a == pytest.approx(brute_tau_a(np.array([1.0, 9.0, 2.0, 9.0, 0.5]), np.array(y)))
    assert tau_b == pytest.approx(stats.kendalltau([1.0, 9.0, 2.0, 9.0, 0.5], y).statistic)
    assert tau_b_vectorized(np.array(x), np.array(y)) == pytest.approx(tau_b)
