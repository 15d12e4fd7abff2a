"""The cost model against measured job times: predicted vs measured seconds of every sharpness job.

Run after a study (e.g. `make study`), in its folder:

    python bench/cost_model.py [--configfile tests/configs/tiny.yaml] [--setting digits]

Predicted: sharpgen.cost from the study's calibrations (results/calibration/); measured: the
`s` column of Snakemake's benchmark file of each sharpness job. Jobs that reused cached pairs
are not comparable: run on a fresh results/ folder.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from sharpgen import config, cost, plan
from sharpgen.estimate import SETTING_SCHEMA, merged_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", type=Path, nargs="*", default=[])
    parser.add_argument("--setting", default="digits")
    args = parser.parse_args()
    cfg = merged_config(args.configfile, {})
    block = config.resolve(cfg, SETTING_SCHEMA)[args.setting]
    sheet = plan.model_sheet(args.setting, block)
    by_id = {d.id: d for d in plan.setting_definitions(args.setting, block, cfg["grid"])}
    model_defs = {m: [by_id[i] for i in ids] for m, ids in plan.model_definitions(args.setting, block, cfg["grid"], sheet).items()}
    n = block["sharpness"]["n"]
    arch = dict(zip(sheet["model_id"], (plan.arch_key(a) for a in sheet["arch"])))
    calib = {k: cost.Calibration.read(Path("results/calibration") / args.setting / f"{k}.json") for k in set(arch.values())}
    rows = []
    for job, models in plan.jobs(sheet, block["sharpness"]["shards"]).items():
        measured = pd.read_csv(Path("results/benchmarks/sharpness") / args.setting / f"{job}.tsv", sep="\t")["s"].iloc[0]
        predicted = cost.job_seconds([(calib[arch[m]], model_defs[m]) for m in models], n)
        rows.append({"job": job, "models": len(models), "predicted_s": predicted, "measured_s": measured, "ratio": predicted / measured})
    table = pd.DataFrame(rows)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    error = (table["predicted_s"] - table["measured_s"]).abs() / table["measured_s"]
    print(f"mean absolute relative error {error.mean():.1%}, worst {error.max():.1%}; total predicted "
          f"{table['predicted_s'].sum():.0f} s vs measured {table['measured_s'].sum():.0f} s")


if __name__ == "__main__":
    main()
