"""What a study will cost before it is submitted: jobs, pairs, passes and predicted hours.

    python -m sharpgen estimate --configfile config/paper.yaml [--config grid=paper]

Hours need a calibration of every architecture (``results/calibration/<setting>/<arch>.json``,
made by the workflow's ``calibrate`` rule on the device the jobs will use, e.g.
``snakemake --workflow-profile workflow/profiles/slurm --configfile config/paper.yaml
--until calibrate``); without one, the table still gives jobs, pairs and passes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from sharpgen import config, cost, plan

SETTING_SCHEMA = Path("workflow/schemas/setting.schema.yaml")


def merged_config(configfiles: Sequence[Path], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``config.yaml`` (when present), then each ``--configfile``, then ``--config`` values, as Snakemake merges them."""
    out: dict[str, Any] = {"settings": ["digits"], "grid": "default"}
    for path in [p for p in [Path("config.yaml")] if p.is_file()] + list(configfiles):
        out = config._merge(out, yaml.safe_load(Path(path).read_text()) or {})
    return config._merge(out, overrides)


def calibration_plan(cfg: Mapping[str, Any], schema: Path = SETTING_SCHEMA) -> dict[str, dict[str, tuple[str, list[int]]]]:
    """Setting -> calibration key -> (architecture string, the batch sizes m its definitions use):
    exactly the files ``estimate`` (and the workflow's ``calibrate`` rule) look for, as
    ``<root>/<setting>/<key>.json``."""
    out: dict[str, dict[str, tuple[str, list[int]]]] = {}
    for name, block in config.resolve(cfg, schema).items():
        sheet = plan.model_sheet(name, block)
        arch = dict(zip(sheet["model_id"], sheet["arch"]))
        ms = sorted({d.m for d in plan.setting_definitions(name, block, cfg["grid"])})
        out[name] = {key: (arch[model], ms) for key, model in plan.calibration_models(sheet).items()}
    return out


def estimate(cfg: Mapping[str, Any], calibration_root: Path, schema: Path = SETTING_SCHEMA) -> pd.DataFrame:
    """One row per setting: jobs, models, pairs, passes, predicted hours (NaN without calibrations)."""
    rows = []
    planned = calibration_plan(cfg, schema)
    for name, block in config.resolve(cfg, schema).items():
        sheet = plan.model_sheet(name, block)
        definitions = plan.setting_definitions(name, block, cfg["grid"])
        by_id = {d.id: d for d in definitions}
        model_defs = {m: [by_id[i] for i in ids] for m, ids in plan.model_definitions(name, block, cfg["grid"], sheet).items()}
        n = block["sharpness"]["n"]
        total = sum((cost.passes(d, n) for defs in model_defs.values() for d in defs), cost.Passes(0, 0))
        jobs = plan.jobs(sheet, block["sharpness"]["shards"])
        files = {key: calibration_root / name / f"{key}.json" for key in planned[name]}
        read = {key: cost.Calibration.read(path) for key, path in files.items() if path.is_file()}
        found = {key: c for key, c in read.items() if set(planned[name][key][1]) <= set(c.forward_seconds)}
        arch = dict(zip(sheet["model_id"], (plan.arch_key(a) for a in sheet["arch"])))
        seconds = float("nan")
        if len(found) == len(files):
            seconds = sum(cost.job_seconds([(found[arch[m]], model_defs[m]) for m in models], n) for models in jobs.values())
        rows.append({
            "setting": name, "jobs": len(jobs), "models": len(sheet), "definitions": len(definitions),
            "pairs": sum(len(defs) for defs in model_defs.values()), "forward_passes": total.forward,
            "backward_passes": total.backward, "hours": seconds / 3600,
            "device": ", ".join(sorted({c.device for c in found.values()})) or "-",
            "missing_calibrations": ", ".join(
                str(p) + (f" (lacks m = {sorted(set(planned[name][k][1]) - set(read[k].forward_seconds))})" if k in read else "")
                for k, p in files.items() if k not in found
            ),
        })
    return pd.DataFrame(rows)


def report(table: pd.DataFrame) -> str:
    """The estimate as a plain-text table, with how to calibrate what is missing."""
    shown = table.drop(columns="missing_calibrations").copy()
    shown["hours"] = [f"{h:.2f}" if h == h else "-" for h in shown["hours"]]
    lines = [shown.to_string(index=False)]
    total = table["hours"].sum(min_count=len(table))
    if total == total:
        lines.append(f"total: {total:.2f} device-hours (x{cost.RUNTIME_SAFETY:g} is requested from the cluster)")
    missing = [m for m in table["missing_calibrations"] if m]
    if missing:
        lines.append("no calibration yet for: " + "; ".join(missing))
        lines.append("make them on the jobs' device: snakemake --workflow-profile <profile> [--configfile ...] --until calibrate")
    return "\n".join(lines)
