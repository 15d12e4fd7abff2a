"""The PGDL score (conditional mutual information), on cases worked by hand.

Every ordered pair (i, j) of models, i == j included, is one observation of the two bits
"gap_i > gap_j" and "measure_i > measure_j"; H(1/4) = 2/4 + (3/4) log2(4/3) = 0.811278 bits.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sharpgen.cmi import SCALE, pgdl_cmi, slice_tables


def _grid(**columns) -> pd.DataFrame:
    return pd.DataFrame(columns)


H_QUARTER = 0.25 * 2 + 0.75 * math.log2(4 / 3)


def test_a_measure_ordered_like_the_gap_scores_one():
    """Two models, gaps (0.1, 0.2), measures (1, 2), one value per hyperparameter (one slice).

    Ordered pairs: (0,0) and (1,1) "not greater" twice; (0,1) not greater in both; (1,0)
    greater in both. Table [[+,+]=1, [+,-]=0], [[-,+]=0, [-,-]=3], marginals p(+gap) =
    p(+measure) = 1/4. MI = 1/4 log2((1/4)/(1/16)) + 3/4 log2((3/4)/(9/16)) = 0.5 + 0.75
    log2(4/3) = 0.811278 = H(gap), so the score is 1 (100 as reported).
    """
    score = pgdl_cmi([1.0, 2.0], [0.1, 0.2], _grid(a=[0, 0], b=["x", "x"]))
    assert score == pytest.approx(1.0, abs=1e-10)
    assert SCALE * score == pytest.approx(100.0, abs=1e-8)


def test_a_reversed_measure_is_not_symmetric_because_self_pairs_count():
    """Measures (2, 1) against gaps (0.1, 0.2).

    (1,0): +gap, -measure; (0,1): -gap, +measure; (0,0), (1,1): -, -. Joint (+,+) = 0,
    (+,-) = (-,+) = 1/4, (-,-) = 1/2, marginals 1/4 and 1/4. MI = 2 (1/4) log2((1/4)/(3/16))
    + (1/2) log2((1/2)/(9/16)) = 0.5 log2(4/3) + 0.5 log2(8/9) = 0.122556; / H = 0.151066.
    (Without the self-pairs a reversed ranking would be as informative as the right one.)
    """
    expected = (0.5 * math.log2(4 / 3) + 0.5 * math.log2(8 / 9)) / H_QUARTER
    assert expected == pytest.approx(0.151066, abs=1e-6)
    assert pgdl_cmi([2.0, 1.0], [0.1, 0.2], _grid(a=[0, 0], b=[0, 0])) == pytest.approx(expected, abs=1e-10)


def test_a_constant_measure_scores_zero():
    """All measure bits are "not greater": MI = 0 in every slice."""
    assert pgdl_cmi([3.0, 3.0, 3.0], [0.1, 0.3, 0.2], _grid(a=[0, 0, 1], b=[0, 1, 1])) == 0.0


def test_conditioning_on_a_hyperparameter_removes_what_it_explains():
    """Four models: a = (0, 0, 1, 1), gaps (0.1, 0.2, 0.3, 0.4), measures (1, 2, -2, -1).

    Within a = 0 and within a = 1 the measure orders the gap (each slice is the first case:
    MI = H = 0.811278). The cross slices (a_i, a_j) = (0, 1) and (1, 0) have a constant gap
    bit: MI = 0 and H = -log2(1 + 1e-12) ~ -1.4e-12. Mean MI / mean H = 1.

    Unconditioned (a constant), the 16 pairs give (+,+) = 2, (+,-) = 4, (-,+) = 4, (-,-) = 6,
    marginals 6/16: MI = 1/8 log2(32/36) + 1/2 log2(64/60) + 3/8 log2(96/100) = 0.003229 and
    H(6/16) = 0.954434, so 0.003383. Kendall's tau over the four models is -1/3.
    """
    measure, gap = [1.0, 2.0, -2.0, -1.0], [0.1, 0.2, 0.3, 0.4]
    assert pgdl_cmi(measure, gap, _grid(a=[0, 0, 1, 1], b=[0, 0, 0, 0])) == pytest.approx(1.0, abs=1e-10)
    mi = 1 / 8 * math.log2(32 / 36) + 1 / 2 * math.log2(64 / 60) + 3 / 8 * math.log2(96 / 100)
    h = -(6 / 16 * math.log2(6 / 16) + 10 / 16 * math.log2(10 / 16))
    assert mi / h == pytest.approx(0.003383, abs=1e-6)
    assert pgdl_cmi(measure, gap, _grid(a=[0, 0, 0, 0], b=[0, 0, 0, 0])) == pytest.approx(mi / h, abs=1e-10)


def test_the_score_is_the_minimum_over_hyperparameter_pairs():
    """Three hyperparameters: the score is the least of the three pairs' scores, each of which
    is the two-hyperparameter score of that pair alone."""
    rng = np.random.default_rng(0)
    hp = pd.DataFrame({"a": np.repeat([0, 1], 8), "b": np.tile(np.repeat([0, 1], 4), 2), "c": np.tile([0, 1], 8)})
    gap = rng.uniform(0, 0.3, 16)
    measure = gap + rng.normal(0, 0.1, 16)
    pairs = [pgdl_cmi(measure, gap, hp[list(p)]) for p in (("a", "b"), ("a", "c"), ("b", "c"))]
    assert len(set(pairs)) == 3
    assert pgdl_cmi(measure, gap, hp) == min(pairs)
    assert pgdl_cmi(measure, gap, hp[["c", "a", "b"]]) == min(pairs)  # column order does not matter


def test_slices_are_keyed_by_both_models_values():
    """Two values per hyperparameter: 2^2 x 2^2 = 16 slices, all 16 ordered pairs of 4 models
    counted once each."""
    tables = slice_tables(np.arange(4.0), np.arange(4.0), [np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])], [2, 2])
    assert tables.shape == (16, 2, 2)
    assert tables.sum() == 16
    assert (tables.sum((1, 2)) == 1).all()


def test_models_without_a_measure_are_left_out_and_one_hyperparameter_gives_nan():
    hp = _grid(a=[0, 0, 0], b=[0, 0, 0])
    assert pgdl_cmi([1.0, 2.0, math.nan], [0.1, 0.2, 0.3], hp) == pytest.approx(1.0, abs=1e-10)
    assert math.isnan(pgdl_cmi([1.0, 2.0], [0.1, 0.2], _grid(a=[0, 1])))
    # a missing hyperparameter value is a level of its own: two slices (a_i, a_j) = (0, nan),
    # (nan, 0) with one pair each and a constant gap bit, two self-pair slices likewise: score 0
    assert pgdl_cmi([1.0, 2.0], [0.1, 0.2], _grid(a=[0, None], b=[0, 0])) == 0.0


def test_the_correlation_tables_carry_the_score_on_their_psi_rows():
    """analysis.correlate puts 100 x pgdl_cmi(measure, target, axes) on each Psi row, nothing on
    the per-axis rows, and the Markdown report shows it."""
    from sharpgen import published, reproduction
    from sharpgen.analysis import correlate
    from sharpgen.jobs.tables import correlation_markdown

    rng = np.random.default_rng(1)
    ids = [f"m{i}" for i in range(8)]
    models = pd.DataFrame({"setting": "s", "model_id": ids, "wd": np.repeat([0.0, 1e-3], 4), "bs": np.tile([32, 512], 4)})
    train, test = rng.uniform(0, 0.05, 8).round(3), rng.uniform(0.1, 0.4, 8).round(3)
    metrics = pd.concat([
        pd.DataFrame({"setting": "s", "model_id": ids, "split": "train", "loss": train, "error": train}),
        pd.DataFrame({"setting": "s", "model_id": ids, "split": "test", "loss": test, "error": test}),
    ])
    sharp = pd.DataFrame({"model_id": ids, "definition": "d", "sharpness_loss": test - train + rng.normal(0, 0.05, 8)})
    table, gran = correlate("s", models, metrics, sharp, [], ["wd", "bs"], 1.0)
    row = gran[(gran["axis"] == "Psi") & (gran["target"] == "gen_gap_error")].iloc[0]
    expected = pgdl_cmi(sharp["sharpness_loss"], test - train, models[["wd", "bs"]])
    assert row["cmi"] == pytest.approx(100 * expected, abs=1e-9) and 0 < expected <= 1
    assert gran.loc[gran["axis"] != "Psi", "cmi"].isna().all()
    table = reproduction.annotate(table, pd.DataFrame(columns=list(published.COLUMNS)))  # as the correlate job: no published value
    assert "PGDL score: conditional mutual information x100" in correlation_markdown("s", table, gran, 8, 8, 1.0)
