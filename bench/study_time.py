"""Wall time of the embedded default study on this machine, and the per-job overhead share.

Runs the default config from scratch in a temporary copy of the workflow with the local
profile, then reads the jobs' own logs and benchmark files:
- wall time of the whole study (target: under 10 minutes on 2 cores);
- for every sharpness job, its fixed cost (interpreter start, imports, data and model loading)
  against its sharpness compute (target: fixed <= 1/4 of compute);
- seconds per rule, summed over its jobs.

    python bench/study_time.py [--cores 2] [--keep DIR]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers.workflow import env, snakemake_command, workdir  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--keep", help="run in this folder and keep it")
    args = parser.parse_args()
    root = workdir(Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="sharpgen-study-")))
    start = time.perf_counter()
    subprocess.run(snakemake_command(cores=args.cores), cwd=root, env=env(), check=True, capture_output=True)
    wall = time.perf_counter() - start

    pattern = re.compile(r"fixed cost ([\d.]+) s .* sharpness compute ([\d.]+) s")
    shares = []
    for log in sorted((root / "results" / "logs" / "sharpness").rglob("*.log")):
        fixed, compute = map(float, pattern.search(log.read_text()).groups())
        shares.append((log.stem, fixed, compute, fixed / compute))
    per_rule = []
    for tsv in (root / "results" / "benchmarks").rglob("*.tsv"):
        rule = tsv.relative_to(root / "results" / "benchmarks").parts[0]
        per_rule.append((rule, float(pd.read_csv(tsv, sep="\t")["s"].iloc[0])))
    rules = pd.DataFrame(per_rule, columns=["rule", "s"]).groupby("rule")["s"].agg(["count", "sum", "mean"])

    print(f"default study: {wall:.0f} s wall on {args.cores} cores (target < 600 s) in {root}")
    print(rules.round(2).to_string())
    print(f"{'sharpness job':14} {'fixed s':>8} {'compute s':>10} {'fixed/compute':>14}")
    for name, fixed, compute, share in shares:
        print(f"{name:14} {fixed:8.2f} {compute:10.2f} {share:14.3f}")
    total_fixed, total_compute = sum(s[1] for s in shares), sum(s[2] for s in shares)
    print(f"{'all':14} {total_fixed:8.2f} {total_compute:10.2f} {total_fixed / total_compute:14.3f} (target <= 0.25)")


if __name__ == "__main__":
    main()
