"""A setting defined only in the tests runs through the unchanged workflow and CLI, end to end."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from helpers.workflow import PLUGINS, job_counts, snakemake, workdir
from sharpgen import tables

pytestmark = pytest.mark.slow
PYTHONPATH = os.pathsep.join(filter(None, [str(PLUGINS), os.environ.get("PYTHONPATH")]))
TOY_ENV = {"SHARPGEN_SETTING_MODULES": "toy_setting", "PYTHONPATH": PYTHONPATH}
sys.path.insert(0, str(PLUGINS))
import toy_setting  # noqa: E402,F401 - registers "toy" in this process too, to read its tables


def test_toy_setting_from_the_tests_runs_end_to_end(tmp_path: Path) -> None:
    root = workdir(tmp_path / "w")
    config = {
        "settings": ["toy"],
        "grid": "tiny",
        "toy": {
            "lrs": [0.05, 0.2, 0.8],
            "sharpness": {"n": 64},
            "grids": {"tiny": [{"algorithm": "average", "norm": "l2", "variant": "adaptive", "rho": 0.1, "m": 32, "n_samples": 2}]},
            "figures": {"targets": ["test_error", "wide_error"]},
        },
    }
    (root / "toy.yaml").write_text(yaml.safe_dump(config))
    counts = job_counts(snakemake(root, "-n", "--configfile", "toy.yaml", extra_env=TOY_ENV).stdout)
    assert counts["train_model"] == 3 and counts["evaluate_models"] == 3 and counts["sharpness"] == 3
    snakemake(root, "--configfile", "toy.yaml", extra_env=TOY_ENV)

    t = root / "results" / "tables" / "toy"
    models = tables.read(t / "models.parquet", tables.models_schema("toy"))
    assert list(models["model_id"]) == ["toy-lr0.05", "toy-lr0.2", "toy-lr0.8"]
    metrics = tables.read(t / "metrics.parquet", tables.METRICS)
    assert set(metrics["split"]) == {"train", "test", "shift:wide"}
    sharp = tables.read(t / "sharpness.parquet", tables.SHARPNESS)
    assert len(sharp) == 3 and sharp["sharpness_loss"].notna().all() and (sharp["n_examples"] == 64).all()
    corr = tables.read(t / "correlation.parquet", tables.CORRELATION)
    assert {"test_error", "wide_error", "gen_gap_error"} <= set(corr["target"])
    assert (root / "results" / "figures" / "toy" / f"{sharp['definition'].iloc[0]}.png").stat().st_size > 0
    _check_reproduction(root, corr)


def _check_reproduction(root: Path, corr) -> None:
    """The toy's published table (tests/helpers/plugins/data), joined onto the tau table by the
    workflow: every comparison is the tau row it names, the minimum is the minimum of them."""
    from sharpgen import published, reproduction

    t = root / "results" / "tables" / "toy"
    paper = published.read(PLUGINS / "data" / "toy_published_values.csv")
    rows = tables.read(t / "reproduction.parquet", tables.REPRODUCTION)
    assert sorted(set(rows["value_id"])) == [1, 2] and list(rows["paper_value"].unique()) == list(paper["value"])
    tau = corr.set_index(["definition", "target", "subgroup"])
    definition = "average_l2_adaptive_rho0.1_m32_s2"
    for _, row in rows[rows["compared"] == "candidate"].iterrows():
        key = (row["definition"], row["target"], row["subgroup"])
        if row["definition"] == definition:
            assert row["ours"] == tau.loc[key, "tau_b"] and row["n_models"] == 3
            assert pd.Series([row["ci_low"], row["ci_high"]]).equals(pd.Series([tau.loc[key, "ci_low"], tau.loc[key, "ci_high"]]))
            if row["relation"] == "=":
                assert _inside(row) == _expected(tau.loc[key], row["paper_value"])
            else:  # a candidate of "as low as" is not the published value: only the minimum is checked
                assert pd.isna(row["inside"])
        else:  # the lognorm twin is not in the test's grid
            assert key not in tau.index and row["n_models"] == 0 and pd.isna(row["inside"])
    minimum = rows[rows["compared"] == "minimum"].iloc[0]
    assert minimum["ours"] == min(tau.loc[(definition, t_, "all"), "tau_b"] for t_ in ("test_error", "wide_error"))
    assert _inside(minimum) == _expected(tau.loc[(minimum["definition"], minimum["target"], "all")], -0.5)
    exact = corr[(corr["definition"] == definition) & (corr["target"] == "test_error") & (corr["subgroup"] == "all")].iloc[0]
    assert exact["paper_value"] == 0.33 and exact["paper_match"] == "exact"
    assert corr[corr["target"] == "wide_error"]["paper_match"].eq("minimum over 4").all()
    report = (root / "results" / "report" / "toy.md").read_text()
    assert report.index("## Reproduction") < report.index("# Kendall tau") and "not computed in this study" in report
    assert reproduction.ours_text(minimum) in report
    page = (root / "results" / "report" / "toy.html").read_text()
    assert page.index("Reproduction") < page.index("Kendall tau at a glance") < page.index("Full tables")
    assert "drift" not in page.lower()  # trained here: nothing published to compare accuracies with


def _inside(row) -> bool | None:
    return None if pd.isna(row["inside"]) else bool(row["inside"])


def _expected(tau_row, value: float) -> bool | None:
    """The paper's value in our interval (+-0.005 for its rounding); None without an interval
    (3 models are too few for a bootstrap interval: the unit tests check intervals)."""
    low, high = tau_row["ci_low"], tau_row["ci_high"]
    return None if pd.isna(low) or pd.isna(high) else bool(low - 0.005 <= value <= high + 0.005)


def test_an_unknown_setting_lists_the_registered_ones(tmp_path: Path) -> None:
    root = workdir(tmp_path / "w")
    result = snakemake(root, "-n", "--config", "settings=[toy]", check=False)
    assert result.returncode != 0
    assert "unknown setting(s) ['toy']" in result.stdout + result.stderr and "digits" in result.stdout + result.stderr
