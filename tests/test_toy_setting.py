"""A setting defined only in the tests runs through the unchanged workflow and CLI, end to end."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from helpers.workflow import PLUGINS, job_counts, snakemake, workdir
from sharpgen import tables

pytestmark = pytest.mark.slow
# the plugin folder before the PYTHONPATH the tests run with (which may name the sharpgen under test)
TOY_ENV = {"SHARPGEN_SETTING_MODULES": "toy_setting", "PYTHONPATH": os.pathsep.join(filter(None, [str(PLUGINS), os.environ.get("PYTHONPATH")]))}


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
    assert (root / "results" / "report" / "toy.md").is_file()


def test_an_unknown_setting_lists_the_registered_ones(tmp_path: Path) -> None:
    root = workdir(tmp_path / "w")
    result = snakemake(root, "-n", "--config", "settings=[toy]", check=False)
    assert result.returncode != 0
    assert "unknown setting(s) ['toy']" in result.stdout + result.stderr and "digits" in result.stdout + result.stderr
