"""The workflow for real: a tiny study end to end, dry runs, incrementality, kill and rerun."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch
import yaml

from sharpgen import plan, tables
from sharpgen.config import resolve
from helpers.workflow import REPO, TINY, env, job_counts, snakemake, snakemake_command, workdir

pytestmark = pytest.mark.slow
MODELS = 4
DEFINITIONS = 2
SHARDS = 2
ARTIFACTS = Path(os.environ.get("SHARPGEN_TEST_ARTIFACTS", REPO / "results" / "test-artifacts"))


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    """The tiny study with the default theory studies, run once to completion for every test of
    this module."""
    root = workdir(tmp_path_factory.mktemp("study"), theory=True)
    snakemake(root, "--configfile", str(TINY))
    return root


def test_tiny_study_writes_every_table_with_its_schema(study: Path) -> None:
    t = study / "results" / "tables" / "digits"
    models = tables.read(t / "models.parquet", tables.models_schema("digits"))
    metrics = tables.read(t / "metrics.parquet", tables.METRICS)
    sharp = tables.read(t / "sharpness.parquet", tables.SHARPNESS)
    corr = tables.read(t / "correlation.parquet", tables.CORRELATION)
    tables.read(t / "granulated.parquet", tables.GRANULATED)
    history = tables.read(t / "history.parquet", tables.HISTORY)
    assert len(models) == MODELS and set(models["arch"]) == {"resnet", "vit"}
    assert len(sharp) == MODELS * DEFINITIONS
    assert sharp.groupby("model_id")["definition"].nunique().eq(DEFINITIONS).all()
    assert sharp["sharpness_loss"].notna().all() and (sharp["device"] == "cpu").all()
    worst = sharp[sharp["algorithm"] == "worst"]
    assert (worst["sharpness_loss"] >= 0).all()
    assert (worst["forward_passes"] == 2 * (5 + 1)).all()  # 2 batches x (n_iters + 1)
    splits = set(metrics["split"])
    assert {"train", "test", "shift:mixed", "shift:blur"} <= splits
    assert len(history) == MODELS * 2
    assert set(corr["subgroup"]) == {"all", "arch=resnet", "arch=vit"}
    all_rows = corr[(corr["subgroup"] == "all") & (corr["target"] == "test_error")]
    sharp_rows = all_rows[all_rows["definition"].isin(set(sharp["definition"]))]
    assert len(sharp_rows) == DEFINITIONS and (all_rows["n_models"] == MODELS).all()
    measures = tables.read(t / "measures.parquet", tables.MEASURES)  # digits' default measures
    assert len(measures) == MODELS * measures["measure"].nunique() and measures["measure"].nunique() == 10
    assert (measures.loc[measures["kind"] == "dist_init", "value"] > 0).all()  # checkpoints keep their init
    theory = study / "results" / "theory"
    for name in ("dln", "classifier_scale", "linear_model"):  # the default theory studies
        assert len(pd.read_parquet(theory / f"{name}.parquet")) > 0 and (theory / f"{name}.pdf").exists()
    assert set(measures["measure"]) | {"oracle_noise0.01", "oracle_noise0.05"} <= set(all_rows["definition"])
    assert "lr" in set(corr["target"])  # tau(sharpness, lr) beside tau(sharpness, error)
    assert corr.loc[corr["subgroup"] == "all", "p_perm"].between(0, 1).all()  # 4 models: exact permutations
    subsets = tables.read(t / "subsets.parquet", tables.SUBSETS)  # 2 definitions x 2 targets, 3 of 4 models
    assert len(subsets) == DEFINITIONS * 2 and (subsets["n_models"] == MODELS).all() and (subsets["k"] == 3).all()
    assert subsets[["q05", "q50", "q95"]].notna().all().all() and (subsets["q05"] <= subsets["q95"]).all()
    check = tables.read(t / "radius_check.parquet", tables.RADIUS_CHECK)  # 2 models: the sheet's first and last
    assert len(check) == DEFINITIONS and (check["n_models"] == 2).all() and (check["classes"] == 10).all()
    block = resolve(yaml.safe_load(TINY.read_text()), REPO / "workflow" / "schemas" / "setting.schema.yaml")["digits"]
    sheet = plan.model_sheet("digits", block)["model_id"].tolist()
    printed = (study / "results" / "logs" / "radius_check" / "digits.log").read_text()
    assert f"models checked: {sheet[0]}, {sheet[-1]}" in printed and "## Radius check" in printed
    expected = sharp[sharp["model_id"].isin([sheet[0], sheet[-1]])].groupby("definition")["sharpness_loss"].median()
    assert check.set_index("definition")["loss_increase"].to_dict() == pytest.approx(expected.to_dict())
    subset = tables.read(study / "results" / "data" / "digits" / "subset.parquet", tables.SUBSET)
    assert subset["index"].tolist() == list(range(256)) and (subset["source"] == "train").all()  # digits: the first n
    assert "class histogram: 10 classes" in (study / "results" / "logs" / "prepare_subset" / "digits.log").read_text()


def test_tau_in_the_table_matches_scipy_on_the_raw_tables(study: Path) -> None:
    from scipy.stats import kendalltau

    t = study / "results" / "tables" / "digits"
    sharp = pd.read_parquet(t / "sharpness.parquet")
    metrics = pd.read_parquet(t / "metrics.parquet")
    corr = pd.read_parquet(t / "correlation.parquet")
    d = sharp["definition"].iloc[0]
    x = sharp[sharp["definition"] == d].set_index("model_id")["sharpness_loss"]
    y = metrics[metrics["split"] == "test"].set_index("model_id")["error"].loc[x.index]
    row = corr[(corr["definition"] == d) & (corr["target"] == "test_error") & (corr["subgroup"] == "all")].iloc[0]
    expected = kendalltau(x, y).statistic
    assert row["tau_b"] == pytest.approx(expected, nan_ok=True)


def test_figures_and_report_exist_and_one_figure_rebuilds_alone(study: Path) -> None:
    figures = sorted((study / "results" / "figures" / "digits").glob("*.png"))
    assert len(figures) == DEFINITIONS
    assert all(f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for f in figures)
    assert all(f.with_suffix(".pdf").read_bytes()[:5] == b"%PDF-" for f in figures)
    report = (study / "results" / "report" / "digits.md").read_text()
    assert "Kendall tau" in report and all(f.name in report for f in figures)
    assert "No published value for setting digits" in report  # nothing to compare with the paper
    assert "## Radius check" in report and "## Tau over random subsets of 3 models" in report
    histograms = sorted((study / "results" / "figures" / "digits" / "subsets").glob("*.png"))
    assert [f.name for f in histograms] == [f.name for f in figures] and all(f"subsets/{f.name}" in report for f in histograms)
    target = figures[0].relative_to(study)
    before = figures[0].read_bytes()
    figures[0].unlink()
    dry = snakemake(study, str(target), "-n", "--configfile", str(TINY))
    assert job_counts(dry.stdout) == {"plot_figure": 1}
    snakemake(study, str(target), "--configfile", str(TINY))
    assert figures[0].read_bytes() == before  # same tables, same bytes


def test_html_report_renders_every_table_and_figure_in_chromium(study: Path, http_server) -> None:
    from helpers.browser import check_page, screenshot

    report = study / "results" / "report" / "digits.html"
    assert (study / "results" / "figures" / "digits" / "captures" / "lr.png").exists()
    http_server.state.root = report.parent
    result = check_page(report.parent, report.name, http_server.base)
    # figures, captures, curvature, and the histograms of tau over random subsets (one per figure)
    assert result["images"] == DEFINITIONS + 2 + DEFINITIONS and result["loaded"] == result["images"], result
    assert result["tables"] > 0 and result["rendered"] == result["tables"], result
    assert result["collapsed"] == 2 and result["heatmap_cells"] > 0, result  # the full tables, collapsed
    assert "No published value for setting digits" in report.read_text()
    shot = screenshot(http_server.url(report.name), ARTIFACTS / "html-report-tiny-study.png")
    print(f"screenshot of the tiny study's report: {shot}")


def test_changing_nothing_reruns_nothing(study: Path) -> None:
    dry = snakemake(study, "--configfile", str(TINY), "-n")
    assert "Nothing to be done" in dry.stdout + dry.stderr


def test_adding_a_radius_computes_only_the_new_pairs(study: Path, tmp_path: Path) -> None:
    extra = tmp_path / "more.yaml"
    extra.write_text(
        "digits:\n  grids:\n    tiny:\n"
        "      - {algorithm: average, norm: l2, variant: adaptive-lognorm, rho: [0.1], m: 128, n_samples: 4}\n"
        "      - {algorithm: worst, norm: linf, variant: adaptive-lognorm, rho: [0.002, 0.004], m: 128, n_iters: 5}\n"
    )
    args = ("--configfile", str(TINY), str(extra))
    dry = snakemake(study, *args, "-n")
    counts = job_counts(dry.stdout)
    # every model's sharpness job (its definition list changed), the aggregation downstream,
    # and the figures: the 2 old ones (the table changed) and the new one
    assert counts == {
        "sharpness": SHARDS,
        "aggregate_sharpness": 1,
        "correlate": 1,
        "plot_figure": DEFINITIONS + 1,
        "plot_captures": 1,
        "radius_check": 1,
        "tau_subsets": 1,
        "plot_tau_subsets": DEFINITIONS + 1,
        "report": 1,
        "html_report": 1,
        "all": 1,
    }
    snakemake(study, *args)
    logs = "".join(p.read_text() for p in (study / "results" / "logs" / "sharpness" / "digits").glob("*.log"))
    assert logs.count(": cached (") == MODELS * DEFINITIONS
    assert logs.count(": sharpness ") == MODELS  # computed: only the new radius, once per model
    sharp = pd.read_parquet(study / "results" / "tables" / "digits" / "sharpness.parquet")
    assert len(sharp) == MODELS * (DEFINITIONS + 1)
    assert "Nothing to be done" in snakemake(study, *args, "-n").stdout


def test_dry_run_of_the_default_study_plans_the_whole_zoo(tmp_path: Path) -> None:
    dry = snakemake(workdir(tmp_path), "-n")
    counts = job_counts(dry.stdout)
    assert counts["train_model"] >= 48
    assert counts["evaluate_models"] == counts["sharpness"] == 6
    assert counts["plot_figure"] == 5
    assert "task_average" not in counts  # no PGDL task: no score averaged over tasks


def _all_outputs_readable(root: Path) -> int:
    """Every result file that exists is complete: Parquet tables and checkpoints read back."""
    count = 0
    for path in (root / "results").rglob("*"):
        if path.suffix == ".parquet":
            pq.read_table(path)
            count += 1
        elif path.suffix == ".pt":
            torch.load(path, weights_only=True)
            count += 1
    return count


def test_killed_run_leaves_no_half_written_file_and_a_rerun_finishes(study: Path, tmp_path: Path) -> None:
    root = workdir(tmp_path / "killed")
    target = ("results/tables/digits/sharpness.parquet", "--configfile", str(TINY))  # what the kill can hit
    proc = subprocess.Popen(
        snakemake_command(*target), cwd=root, env=env(), start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    cache = root / "results" / "cache" / "sharpness"
    deadline = time.time() + 600
    while time.time() < deadline and not any(cache.rglob("*.parquet")):
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert any(cache.rglob("*.parquet")), "the run never reached the sharpness jobs"
    # a killed writer can leave only a hidden temporary, never a file under an output's name
    assert all(p.name.startswith(".") for p in (root / "results").rglob("*.tmp"))
    assert _all_outputs_readable(root) > 0
    finished = {p: p.stat().st_mtime_ns for p in cache.rglob("*.parquet")}
    snakemake(root, *target, "--unlock")  # what a user does after a kill
    snakemake(root, *target)
    reference = pd.read_parquet(study / "results" / "tables" / "digits" / "sharpness.parquet")
    rerun = pd.read_parquet(root / "results" / "tables" / "digits" / "sharpness.parquet")
    cols = ["model_id", "definition", "sharpness_loss", "sharpness_error", "clean_loss"]
    pd.testing.assert_frame_equal(rerun[cols], reference[reference["definition"].isin(rerun["definition"])][cols].reset_index(drop=True))
    assert all(p.stat().st_mtime_ns == t for p, t in finished.items())  # kept, not recomputed


def test_estimate_uses_the_calibrations_and_counts_the_engines_passes(study: Path) -> None:
    import json
    import subprocess
    import sys

    calibrations = sorted((study / "results" / "calibration" / "digits").glob("*.json"))
    assert [p.stem for p in calibrations] == ["resnet", "vit"]
    assert all(json.loads(p.read_text())["forward_backward_seconds"]["128"] > 0 for p in calibrations)
    out = subprocess.run(
        [sys.executable, "-m", "sharpgen", "estimate", "--configfile", str(TINY)], cwd=study, env=env(),
        capture_output=True, text=True, check=True,
    ).stdout
    row = out.splitlines()[1].split()
    sharp = pd.read_parquet(study / "results" / "tables" / "digits" / "sharpness.parquet")
    tiny = yaml.safe_load(TINY.read_text())["digits"]["grids"]["tiny"]
    sharp = sharp[sharp["definition"].isin([d.id for d in plan.definitions(tiny, "tiny")])]  # other tests add radii
    assert row[:6] == ["digits", str(SHARDS), str(MODELS), str(DEFINITIONS), str(MODELS * DEFINITIONS), str(sharp["forward_passes"].sum())]
    assert row[6] == str(sharp["backward_passes"].sum()) and float(row[7]) > 0 and row[8] == "cpu"
