"""Planning time: `snakemake -n` of the default study, the paper's settings and their full grid,
for this checkout and an earlier revision side by side, with and without an unreachable SLURM
controller configured (the SLURM executor plugin asks `scontrol` on every Snakemake start).

    python bench/dry_run.py [--before REV] [--repeats 3]

Prints the best of ``--repeats`` wall times per case, the planned job counts, and the ratio
before/after. Target: under 3 s for each case on 2 cores without a SLURM configuration.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers.workflow import REPO, job_counts  # noqa: E402

CASES = {
    "default study": (),
    "paper settings": ("--configfile", "config/paper.yaml"),
    "paper settings, grid=paper": ("--configfile", "config/paper.yaml", "--config", "grid=paper"),
}
UNREACHABLE = "ClusterName=bench\nSlurmctldHost=localhost(127.0.0.1)\nSlurmctldPort=9\nNodeName=localhost CPUs=1\nPartitionName=p Nodes=localhost\n"


def checkout(rev: str | None, into: Path) -> Path:
    """A copy of the workflow files (and sources) of ``rev`` (None: the working tree)."""
    if rev is None:
        for name in ("Snakefile", "config.yaml", "workflow", "envs", "config", "src"):
            source = REPO / name
            (shutil.copytree if source.is_dir() else shutil.copy)(source, into / name)
        return into
    subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", "-o", str(into / "rev.tar"), rev], check=True)
    subprocess.run(["tar", "-xf", "rev.tar"], cwd=into, check=True)
    return into


def dry_run(root: Path, args: tuple[str, ...], slurm_conf: Path | None, repeats: int) -> tuple[float, int]:
    env = dict(os.environ, PYTHONPATH=str(root / "src"))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env.pop("SLURM_CONF", None)
    if slurm_conf is not None:
        env["SLURM_CONF"] = str(slurm_conf)
    best, jobs = float("inf"), 0
    for _ in range(repeats):
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "snakemake", "-n", *args], cwd=root, env=env, capture_output=True, text=True)
        best = min(best, time.perf_counter() - start)
        if out.returncode != 0:
            raise RuntimeError(f"snakemake -n {' '.join(args)} failed in {root}:\n{out.stderr[-2000:]}")
        jobs = sum(job_counts(out.stdout).values())
    return best, jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default=None, help="an earlier revision to compare with (e.g. a commit id)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sharpgen-dry-"))
    conf = work / "slurm.conf"
    conf.write_text(UNREACHABLE)
    (work / "after").mkdir()
    trees = {"after": checkout(None, work / "after")}
    if args.before:
        (work / "before").mkdir()
        trees = {"before": checkout(args.before, work / "before"), **trees}
    print(f"{'case':34} {'SLURM conf':>10} " + " ".join(f"{k + ' s':>9} {'jobs':>5}" for k in trees) + ("  ratio" if args.before else ""))
    for label, extra in CASES.items():
        for slurm in (None, conf):
            times = {k: dry_run(root, extra, slurm, args.repeats) for k, root in trees.items()}
            cells = " ".join(f"{s:9.2f} {j:5d}" for s, j in times.values())
            ratio = f"  {times['before'][0] / times['after'][0]:5.1f}x" if args.before else ""
            print(f"{label:34} {'unreachable' if slurm else 'none':>10} {cells}{ratio}", flush=True)
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
