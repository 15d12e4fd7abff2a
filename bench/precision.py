"""What lower precision would change on a finished study: sharpness and Kendall tau, fp32 vs bf16
(and TF32 on CUDA), on the study's own models and data.

Run in the folder of a finished study of a setting trained here (e.g. after `make study`):

    python bench/precision.py [--setting digits] [--definitions ID ...] [--threads 2]

fp32 values are the study's own table (TF32 off); bf16 reruns each (model, definition) pair under
torch.autocast; on CUDA, TF32 reruns it with TF32 matmuls allowed.
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

import pandas as pd
import torch
from scipy.stats import kendalltau

from sharpgen import analysis, datasets, settings, tables
from sharpgen.device import resolve_device
from sharpgen.sharpness import Definition, compute_sharpness, split_batches


def modes(device: torch.device) -> dict[str, contextlib.AbstractContextManager]:
    out = {"bf16": torch.autocast(device.type, dtype=torch.bfloat16)}
    if device.type == "cuda":
        out["tf32"] = _tf32()
    return out


@contextlib.contextmanager
def _tf32():
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setting", default="digits")
    parser.add_argument("--definitions", nargs="*", default=None, help="definition ids (default: all of the study)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    t = Path("results/tables") / args.setting
    sharp = tables.read(t / "sharpness.parquet", tables.SHARPNESS)
    metrics = tables.read(t / "metrics.parquet", tables.METRICS)
    models = tables.read(t / "models.parquet", tables.models_schema(args.setting)).set_index("model_id")
    keep = analysis.kept_models(metrics, 1.0)
    ids = args.definitions or sorted(sharp["definition"].unique())
    x, y = datasets.load(Path("results/data") / args.setting / "subset.pt")["sharpness"]
    setting = settings.get(args.setting)
    rows = []
    for model_id in sorted(set(sharp["model_id"]) & set(keep)):
        net = setting.load_model(Path("results/models") / args.setting / model_id / "checkpoint.pt", models.loc[model_id, "arch"], device)
        for def_id in ids:
            row = sharp[(sharp["model_id"] == model_id) & (sharp["definition"] == def_id)].iloc[0]
            fields = ("algorithm", "norm", "rho", "adaptive", "logit_norm", "m", "n_samples", "antithetic", "n_iters", "momentum", "reset", "init", "restarts", "seed")
            d = Definition.from_dict({k: row[k].item() if hasattr(row[k], "item") else row[k] for k in fields})
            out = {"model_id": model_id, "definition": def_id, "fp32": row["sharpness_loss"]}
            for name, context in modes(device).items():
                with context:
                    out[name] = compute_sharpness(net, split_batches(x, y, d.m), d, device=device).sharpness_loss
            rows.append(out)
        print(f"{model_id} done", flush=True)
    frame = pd.DataFrame(rows)
    error = analysis.targets(metrics).query("target == 'test_error'").set_index("model_id")["value"]
    for def_id, group in frame.groupby("definition"):
        group = group.set_index("model_id")
        line = f"{def_id:48}"
        for name in [c for c in group.columns if c not in ("definition", "fp32")]:
            diff = (group[name] - group["fp32"]).abs()
            rel = (diff / group["fp32"].abs()).median()
            tau32 = kendalltau(group["fp32"], error[group.index]).statistic
            tau = kendalltau(group[name], error[group.index]).statistic
            line += f"  {name}: median |rel diff| {rel:.2%}, max |diff| {diff.max():.2e}, tau {tau32:+.3f} -> {tau:+.3f}"
        print(line)


if __name__ == "__main__":
    main()
