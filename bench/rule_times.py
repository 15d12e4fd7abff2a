"""Seconds per rule of a finished (or cut-short) study, from its benchmark files.

    python bench/rule_times.py results

Reads results/benchmarks/<rule>/**/*.tsv (Snakemake's `benchmark:` files: wall seconds, peak
memory and CPU time of each job) and prints, per rule: jobs, summed and largest wall seconds,
and summed CPU seconds (cpu_time); CPU seconds far above wall seconds x the job's threads mean
more busy threads than the job asked for.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd


def rule_times(results: Path) -> pd.DataFrame:
    rows = []
    for path in sorted((results / "benchmarks").glob("*/**/*.tsv")):
        frame = pd.read_csv(path, sep="\t")
        rule = path.relative_to(results / "benchmarks").parts[0]
        for _, r in frame.iterrows():
            rows.append({"rule": rule, "s": float(r["s"]), "cpu_time": float(r.get("cpu_time", float("nan"))),
                         "max_rss": float(r.get("max_rss", float("nan")))})
    if not rows:
        return pd.DataFrame(columns=["rule", "jobs", "sum_s", "max_s", "cpu_s", "max_rss_mb"])
    table = pd.DataFrame(rows).groupby("rule").agg(
        jobs=("s", "size"), sum_s=("s", "sum"), max_s=("s", "max"), cpu_s=("cpu_time", "sum"), max_rss_mb=("max_rss", "max"))
    return table.sort_values("sum_s", ascending=False).reset_index()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    args = parser.parse_args()
    table = rule_times(args.results)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.1f}") if len(table) else f"no benchmark files under {args.results}/benchmarks")


if __name__ == "__main__":
    main()
