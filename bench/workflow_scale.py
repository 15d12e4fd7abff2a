"""How the workflow scales: dry-run time of the paper's full grid, and SLURM submission rate.

1. `snakemake -n` for the default study, the paper's four settings, and the four settings with
   the full paper grid (target: under 30 s), with the planned job counts.
2. With the local SLURM cluster up (tests/cluster/slurm-up.sh): a study of 16 tiny models, whose
   16 training jobs are ready at once; the submission rate is the number of those jobs over the
   spread of their SLURM submit times (sacct).

    python bench/workflow_scale.py [--skip-slurm]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers.workflow import REPO, env, job_counts, snakemake_command, workdir  # noqa: E402

WIDE = """settings: [digits]
grid: tiny
digits:
  zoo:
    families:
      resnet: {optimizer: sgd, lr: [0.01, 0.02, 0.05, 0.1], epochs: 1, width: 8}
      vit: {optimizer: adamw, lr: [0.001, 0.002, 0.003, 0.01], epochs: 1}
    batch_size: [64]
    augment: [false, true]
    sam_rho: [0.0]
  sharpness: {n: 128, shards: 2, max_train_error: 1.0}
  grids:
    tiny:
      - {algorithm: worst, norm: linf, variant: adaptive-lognorm, rho: 0.002, m: 128, n_iters: 2}
"""


def dry_run(root: Path, *args: str) -> tuple[float, int]:
    start = time.perf_counter()
    result = subprocess.run(snakemake_command("-n", *args), cwd=root, env=env(), capture_output=True, text=True, check=True)
    return time.perf_counter() - start, sum(job_counts(result.stdout).values())


def submission_rate(root: Path) -> tuple[int, float]:
    (root / "wide.yaml").write_text(WIDE)
    subprocess.run(
        snakemake_command("--configfile", "wide.yaml", "--jobs", "100", profile="slurm-test"), cwd=root, env=env(), check=True, capture_output=True
    )
    ids = [p.stem for p in (root / ".snakemake" / "slurm_logs" / "rule_train_model").rglob("*.log")]
    out = subprocess.run(["sacct", "-X", "-n", "-P", "-j", ",".join(ids), "-o", "Submit"], capture_output=True, text=True, check=True).stdout
    times = sorted(datetime.fromisoformat(t) for t in out.split())
    spread = (times[-1] - times[0]).total_seconds()
    return len(times), spread


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-slurm", action="store_true")
    args = parser.parse_args()
    root = workdir(Path(tempfile.mkdtemp(prefix="sharpgen-scale-")))
    shutil.copytree(REPO / "config", root / "config")
    for label, extra in (
        ("default study", ()),
        ("paper settings", ("--configfile", "config/paper.yaml")),
        ("paper settings, grid=paper", ("--configfile", "config/paper.yaml", "--config", "grid=paper")),
    ):
        seconds, jobs = dry_run(root, *extra)
        print(f"snakemake -n, {label:28}: {seconds:5.1f} s for {jobs} jobs")
    if not args.skip_slurm and shutil.which("sinfo"):
        n, spread = submission_rate(root)
        print(f"SLURM: {n} ready jobs submitted within {spread:.0f} s ({n / max(spread, 1):.2f} jobs/s, sacct Submit times)")


if __name__ == "__main__":
    main()
