"""The workflow on a live single-node SLURM cluster (tests/cluster/slurm-up.sh; tests/run.sh starts it).

The tiny study runs through the SLURM test profile: every heavy job must show up in SLURM's
accounting with a GPU allocated, and the results must equal a local run's. A job cancelled
with scancel fails the run; a rerun finishes it and recomputes nothing that was finished.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from helpers.workflow import TINY, env, snakemake, snakemake_command, workdir

pytestmark = [pytest.mark.slurm, pytest.mark.slow]
COMPARED = ("sharpness", "metrics", "correlation")  # the tables the SLURM run must reproduce
HEAVY = ("prepare_dataset", "prepare_subset", "train_model", "evaluate_models", "calibrate", "sharpness")
# longer sharpness jobs (a cancel must catch one running after its first pair is cached); no tau
# over subsets (the summary group runs each of its jobs as a Snakemake process of its own)
MORE_RADII = (
    "digits:\n  subsets: {k: 0}\n  grids:\n    tiny:\n"
    "      - {algorithm: average, norm: l2, variant: adaptive-lognorm, rho: [0.1], m: 128, n_samples: 4}\n"
    "      - {algorithm: worst, norm: linf, variant: adaptive-lognorm, rho: [0.002, 0.004], m: 128, n_iters: 20}\n"
)


def cluster_up() -> bool:
    if shutil.which("sinfo") is None:
        return False
    return subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=30).stdout.strip() in {"idle", "mix", "alloc"}


@pytest.fixture(scope="module", autouse=True)
def require_cluster() -> None:
    if not cluster_up():
        if os.environ.get("CI"):
            pytest.fail("the local SLURM cluster is not up: run tests/cluster/slurm-up.sh (tests/run.sh does)")
        pytest.skip("no SLURM cluster: run tests/cluster/slurm-up.sh")


def sacct(job_ids: list[str]) -> dict[str, tuple[str, str]]:
    """job id -> (state, allocated TRES) from SLURM's accounting database."""
    out = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-j", ",".join(job_ids), "-o", "JobID,State,AllocTRES"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout
    return {line.split("|")[0]: tuple(line.split("|")[1:3]) for line in out.splitlines() if line}


def slurm_logs(root: Path) -> dict[str, list[tuple[str, str]]]:
    """rule -> [(job wildcards, SLURM job id)] from the executor's per-job logs."""
    out: dict[str, list[tuple[str, str]]] = {}
    for log in (root / ".snakemake" / "slurm_logs").rglob("*.log"):
        rule_dir = log.relative_to(root / ".snakemake" / "slurm_logs").parts[0]
        if rule_dir.startswith("rule_"):
            wildcards = log.parent.name if log.parent.name != rule_dir else ""
            out.setdefault(rule_dir.removeprefix("rule_"), []).append((wildcards, log.stem))
    return out


def test_study_through_slurm_with_a_cancelled_job_equals_the_local_run(tmp_path: Path) -> None:
    extra = tmp_path / "radii.yaml"
    extra.write_text(MORE_RADII)
    config = ("--configfile", str(TINY), str(extra))

    local = workdir(tmp_path / "local")
    snakemake(local, *(f"results/tables/digits/{t}.parquet" for t in COMPARED), *config)  # the reference

    root = workdir(tmp_path / "slurm")
    proc = subprocess.Popen(
        snakemake_command(*config, "--retries", "0", profile="slurm-test"), cwd=root, env=env(),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    cancelled = None
    deadline = time.time() + 600
    while cancelled is None and time.time() < deadline and proc.poll() is None:
        queue = subprocess.run(["squeue", "-h", "-t", "RUNNING", "-o", "%i|%k"], capture_output=True, text=True).stdout
        running = [line.split("|")[0] for line in queue.splitlines() if "rule_sharpness" in line]
        if running and any((root / "results" / "cache" / "sharpness").rglob("*.parquet")):
            cancelled = running[0]
            subprocess.run(["scancel", cancelled], check=True)
        time.sleep(0.2)
    output = proc.communicate(timeout=600)[0]
    assert cancelled is not None, f"no sharpness job was caught running:\n{output[-3000:]}"
    assert proc.returncode != 0, "cancelling a job must fail the run"
    assert sacct([cancelled])[cancelled][0].startswith("CANCELLED")
    done_before = {p: p.stat().st_mtime_ns for p in (root / "results" / "cache").rglob("*.parquet")}

    snakemake(root, *config, profile="slurm-test")  # the rerun finishes the study

    # nothing computed before the cancel was recomputed
    assert all(p.stat().st_mtime_ns == t for p, t in done_before.items())
    # every heavy job went through SLURM: a log named by its job id, COMPLETED, a GPU allocated
    logs = slurm_logs(root)
    expected = {"prepare_dataset": 1, "prepare_subset": 1, "train_model": 4, "evaluate_models": 2, "calibrate": 2, "sharpness": 2}
    for rule, count in expected.items():
        assert len({w for w, _ in logs.get(rule, [])}) == count, (rule, logs.get(rule))
    job_ids = [job for rule in HEAVY for _, job in logs[rule]]
    states = sacct(job_ids)
    completed = {(rule, w): job for rule in HEAVY for w, job in logs[rule] if states[job][0] == "COMPLETED"}
    assert len(completed) == sum(expected.values())
    for (rule, _), job in completed.items():
        if not rule.startswith("prepare_"):  # the GPU rules
            assert "gres/gpu=1" in states[job][1], states[job]
    sharp_log = next((root / "results" / "logs" / "sharpness" / "digits").glob("*.log")).read_text()
    # the fake GPU is allocated and visible to the job; our code falls back to the CPU
    assert re.search(r"device cpu \(CUDA_VISIBLE_DEVICES=[01]\)", sharp_log), sharp_log[:500]

    cols = ["model_id", "definition", "sharpness_loss", "sharpness_error", "clean_loss"]
    via_slurm = pd.read_parquet(root / "results" / "tables" / "digits" / "sharpness.parquet")[cols]
    at_home = pd.read_parquet(local / "results" / "tables" / "digits" / "sharpness.parquet")[cols]
    pd.testing.assert_frame_equal(via_slurm, at_home)
    for table in COMPARED[1:]:
        a = pd.read_parquet(root / "results" / "tables" / "digits" / f"{table}.parquet")
        b = pd.read_parquet(local / "results" / "tables" / "digits" / f"{table}.parquet")
        pd.testing.assert_frame_equal(a, b)
