"""The command line that workflow rules call: ``python -m sharpgen <command> ...``.

Each command parses its arguments, calls library functions, and writes its outputs
atomically. Heavy imports happen inside the command that needs them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Callable

import pandas as pd

from sharpgen import cli_paper


SLOW_BATCH_SECONDS = 2.0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _device(spec: str, threads: int):
    import torch

    from sharpgen.device import resolve_device

    torch.set_num_threads(max(1, threads))
    return resolve_device(spec)


def cmd_prepare_digits(a: argparse.Namespace) -> None:
    from sharpgen import datasets
    from sharpgen.atomic import atomic_path

    splits, index = datasets.digits_splits(a.test_fraction, a.split_seed, a.shift_severity, a.shift_seed)
    subset = datasets.first_n(splits, a.n)
    datasets.save(splits, a.out_dataset)
    datasets.save({"sharpness": subset}, a.out_subset)
    with atomic_path(a.out_split) as tmp:
        index.to_parquet(tmp, index=False)
    sizes = ", ".join(f"{k}={len(v[1])}" for k, v in splits.items())
    log(f"digits: {sizes}; sharpness subset = first {a.n} training examples")


def cmd_train(a: argparse.Namespace) -> None:
    from sharpgen import checkpoint, datasets, tables
    from sharpgen.progress import Progress
    from sharpgen.zoo.train import TrainConfig, train

    spec = json.loads(a.spec)
    device = _device(a.device, a.threads)
    cfg = TrainConfig(
        arch=spec["arch"], lr=spec["lr"], batch_size=spec["batch_size"], augment=spec["augment"],
        weight_decay=spec["weight_decay"], sam_rho=spec["sam_rho"], epochs=spec["epochs"], seed=spec["seed"],
        width=spec["width"], optimizer=spec["optimizer"],
    )
    x, y = datasets.load(a.dataset)["train"]
    progress = Progress(f"train {a.model_id}", cfg.epochs, unit="epoch")

    def on_epoch(row: dict) -> None:
        progress.step(f"loss {row['train_loss']:.4f} error {row['train_error']:.4f} lr {row['lr']:.4g}")

    model, history = train(cfg, x, y, device, on_epoch=on_epoch)
    frame = pd.DataFrame(history).assign(setting=a.setting, model_id=a.model_id)
    tables.write(frame, a.out_history, tables.HISTORY, "history")
    checkpoint.save(model.cpu(), a.out_checkpoint, arch=cfg.arch, width=cfg.width, num_classes=10)


def _models(pairs: list[str]) -> list[tuple[str, str, str | None]]:
    """Parse --model ID=PATH[@ARCH] (ARCH: the sheet's architecture string, paper settings)."""
    out = []
    for pair in pairs:
        model_id, sep, rest = pair.partition("=")
        path, at, arch = rest.rpartition("@") if "@" in rest else (rest, "", "")
        if not sep or not model_id or not path or (at and not arch):
            raise ValueError(f"--model expects ID=PATH or ID=PATH@ARCH, got {pair!r}")
        out.append((model_id, path, arch or None))
    return out


def _since_process_start() -> float:
    """Seconds since this process was created (interpreter start and imports included)."""
    import psutil

    return time.time() - psutil.Process().create_time()


def cmd_evaluate(a: argparse.Namespace) -> None:
    from sharpgen import checkpoint, datasets, tables
    from sharpgen.evaluate import loss_and_error
    from sharpgen.progress import Progress

    device = _device(a.device, a.threads)
    splits = datasets.load(a.dataset)
    models = _models(a.model)
    progress = Progress("evaluate", len(models), unit="model")
    rows = []
    for model_id, path, arch in models:
        model = checkpoint.load(path, a.setting, device, arch)
        for split, (x, y) in splits.items():
            loss, error = loss_and_error(model, x, y, device)
            rows.append({"setting": a.setting, "model_id": model_id, "split": split, "loss": loss, "error": error, "n_examples": len(y)})
        summary = {r["split"]: r["error"] for r in rows if r["model_id"] == model_id}
        progress.step(f"{model_id}: train error {summary.get('train', float('nan')):.4f}, test error {summary.get('test', float('nan')):.4f}")
    tables.write(pd.DataFrame(rows), a.out, tables.METRICS, "metrics")


def cmd_sharpness(a: argparse.Namespace) -> None:
    from sharpgen import checkpoint, datasets, sharpness_job, tables
    from sharpgen.download import sha256_file
    from sharpgen.progress import Progress
    from sharpgen.sharpness import Definition

    device = _device(a.device, a.threads)
    definitions = [Definition.from_dict(d) for d in json.loads(a.definitions)]
    models = _models(a.model)
    data = datasets.load(a.subset)["sharpness"]
    subset_sha, engine = sha256_file(a.subset), sharpness_job.engine_fingerprint()
    fixed = _since_process_start()
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    log(
        f"{len(models)} models x {len(definitions)} definitions on {len(data[1])} examples, device {device}"
        + (f" (CUDA_VISIBLE_DEVICES={visible})" if visible is not None else "")
    )
    pairs = Progress("pairs", len(models) * len(definitions), unit="pair")

    def on_batch(result, total: int) -> None:
        if result.seconds >= SLOW_BATCH_SECONDS:  # per-batch lines only where batches are slow (large models)
            log(f"    batch {result.index + 1}/{total}: sharpness {result.sharpness_loss:.5g} in {result.seconds:.1f} s")

    frames, compute = [], 0.0
    for i, (model_id, path, arch) in enumerate(models):
        t0 = time.perf_counter()
        model = checkpoint.load(path, a.setting, device, arch)
        fingerprint = sharpness_job.pair_fingerprint(sha256_file(path), subset_sha, engine)
        fixed += time.perf_counter() - t0
        log(f"model {i + 1}/{len(models)}: {model_id}")
        t1 = time.perf_counter()
        frames.append(
            sharpness_job.run(
                a.setting, model_id, model, data, definitions, Path(a.cache_dir) / model_id, fingerprint, device,
                pairs.step, on_batch,
            )
        )
        compute += time.perf_counter() - t1
    tables.write(pd.concat(frames, ignore_index=True), a.out, tables.SHARPNESS, "sharpness")
    share = fixed / compute if compute > 0 else float("inf")
    log(
        f"fixed cost {fixed:.2f} s (interpreter start, imports, data and model loading), "
        f"sharpness compute {compute:.2f} s, fixed/compute = {share:.2f}"
    )


def cmd_sheet(a: argparse.Namespace) -> None:
    from sharpgen import tables

    frame = pd.DataFrame(json.loads(a.sheet))
    tables.write(frame, a.out, tables.models_schema(a.setting), "models")


def cmd_aggregate(a: argparse.Namespace) -> None:
    from sharpgen import tables

    schema = {"metrics": tables.METRICS, "history": tables.HISTORY, "sharpness": tables.SHARPNESS}[a.kind]
    frame = tables.concat(a.inputs, schema, a.kind, a.out)
    log(f"{a.kind}: {len(frame)} rows from {len(a.inputs)} files -> {a.out}")


def cmd_correlate(a: argparse.Namespace) -> None:
    from sharpgen import analysis, tables
    from sharpgen.atomic import atomic_path
    from sharpgen.correlation import markdown_table

    models = tables.read(a.models, tables.models_schema(a.setting))
    metrics = tables.read(a.metrics, tables.METRICS)
    sharp = tables.read(a.sharpness, tables.SHARPNESS)
    table, gran = analysis.correlate(a.setting, models, metrics, sharp, a.group_by, a.axes, a.max_train_error)
    tables.write(table[tables.CORRELATION.names], a.out_table, tables.CORRELATION, "correlation")
    tables.write(gran, a.out_granulated, tables.GRANULATED, "granulated")
    kept = len(analysis.kept_models(metrics, a.max_train_error))
    sections = [f"# Kendall tau, setting {a.setting}\n", f"{kept} of {len(models)} models (training error <= {a.max_train_error}).", "tau-b (tie-corrected; tau-a is in correlation.parquet), all models:\n"]
    sections.append(markdown_table(table.rename(columns={"definition": "measure"}), subgroup="all"))
    for subgroup in sorted(set(table["subgroup"]) - {"all"}):
        sections += [f"\n## {subgroup}\n", markdown_table(table.rename(columns={"definition": "measure"}), subgroup=subgroup)]
    if len(gran):
        psi = gran[gran["axis"] == "Psi"].rename(columns={"definition": "measure", "target": "target", "psi": "tau_b"}).assign(subgroup="all")
        sections += ["\n## Granulated Kendall coefficient Psi (Jiang et al., 2020)\n", markdown_table(psi, subgroup="all")]
    with atomic_path(a.out_markdown) as tmp:
        tmp.write_text("\n".join(sections) + "\n")


def cmd_plot(a: argparse.Namespace) -> None:
    from sharpgen import analysis, tables
    from sharpgen.figures import plot_grid, save_figure

    models = tables.read(a.models, tables.models_schema(a.setting))
    metrics = tables.read(a.metrics, tables.METRICS)
    sharp = tables.read(a.sharpness, tables.SHARPNESS)
    keep = analysis.kept_models(metrics, a.max_train_error)
    rows = sharp[sharp["definition"] == a.definition]
    if rows.empty:
        raise ValueError(f"no sharpness rows for definition {a.definition!r} in {a.sharpness}")
    rows = rows[rows["model_id"].isin(keep)]
    if rows.empty:
        raise ValueError(
            f"no model has training error <= {a.max_train_error}; raise config {a.setting}.sharpness.max_train_error"
        )
    base = models.merge(rows[["model_id", "sharpness_loss"]], on="model_id")
    target_frame = analysis.targets(metrics)
    frames = {}
    for target in a.targets:
        values = target_frame[target_frame["target"] == target][["model_id", "value"]]
        frames[target.replace("_", " ")] = base.merge(values, on="model_id")
    fig = plot_grid(frames, x="sharpness_loss", y="value", color=a.color, marker=a.marker or None, x_label="sharpness", suptitle=f"{a.setting}: {a.definition}")
    for out in a.out:
        save_figure(fig, Path(out))


def cmd_report(a: argparse.Namespace) -> None:
    from sharpgen.atomic import atomic_path

    parts = [f"# sharpgen report: {a.setting}\n"]
    for md in a.tables:
        parts.append(Path(md).read_text())
    parts.append("\n## Figures\n")
    for fig in a.figures:
        parts.append(f"![{Path(fig).stem}]({os.path.relpath(fig, Path(a.out).parent)})\n")
    with atomic_path(a.out) as tmp:
        tmp.write_text("\n".join(parts))


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sharpgen", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    def add(name: str, func: Callable, help_: str) -> argparse.ArgumentParser:
        s = sub.add_parser(name, help=help_)
        s.set_defaults(func=func)
        return s

    s = add("prepare-digits", cmd_prepare_digits, "split the bundled digits, build the shifted test sets and the sharpness subset")
    s.add_argument("--test-fraction", type=float, required=True)
    s.add_argument("--split-seed", type=int, required=True)
    s.add_argument("--shift-severity", type=int, required=True)
    s.add_argument("--shift-seed", type=int, required=True)
    s.add_argument("--n", type=int, required=True)
    s.add_argument("--out-dataset", required=True)
    s.add_argument("--out-subset", required=True)
    s.add_argument("--out-split", required=True)

    for name, func, help_ in (
        ("train", cmd_train, "train one model of a zoo"),
        ("evaluate", cmd_evaluate, "loss and error of models on every split"),
        ("sharpness", cmd_sharpness, "every definition for some models (each pair cached)"),
    ):
        s = add(name, func, help_)
        s.add_argument("--setting", required=True)
        s.add_argument("--device", default="auto")
        s.add_argument("--threads", type=int, default=1)
        if name == "train":
            s.add_argument("--model-id", required=True)
            s.add_argument("--spec", required=True, help="the model sheet row as JSON")
            s.add_argument("--dataset", required=True)
            s.add_argument("--out-checkpoint", required=True)
            s.add_argument("--out-history", required=True)
            continue
        s.add_argument("--model", nargs="+", required=True, metavar="ID=PATH[@ARCH]", help="model id, checkpoint (and architecture)")
        s.add_argument("--out", required=True)
        if name == "evaluate":
            s.add_argument("--dataset", required=True)
        else:
            s.add_argument("--subset", required=True)
            s.add_argument("--definitions", required=True, help="JSON list of definition dicts")
            s.add_argument("--cache-dir", required=True, help="per-pair cache; a folder per model inside")

    s = add("sheet", cmd_sheet, "write a setting's model sheet as its models table")
    s.add_argument("--setting", required=True)
    s.add_argument("--sheet", required=True, help="the model sheet as JSON records")
    s.add_argument("--out", required=True)

    s = add("aggregate", cmd_aggregate, "concatenate per-model tables")
    s.add_argument("--kind", choices=["metrics", "history", "sharpness"], required=True)
    s.add_argument("--inputs", nargs="+", required=True)
    s.add_argument("--out", required=True)

    s = add("correlate", cmd_correlate, "Kendall tau tables (Parquet and Markdown)")
    for name in ("setting", "models", "metrics", "sharpness", "out-table", "out-granulated", "out-markdown"):
        s.add_argument(f"--{name}", required=True)
    s.add_argument("--group-by", nargs="*", default=[])
    s.add_argument("--axes", nargs="*", default=[])
    s.add_argument("--max-train-error", type=float, default=1.0)

    s = add("plot", cmd_plot, "error vs sharpness for one definition (PNG/PDF)")
    for name in ("setting", "models", "metrics", "sharpness", "definition"):
        s.add_argument(f"--{name}", required=True)
    s.add_argument("--targets", nargs="+", required=True)
    s.add_argument("--color", default="lr")
    s.add_argument("--marker", default=None)
    s.add_argument("--max-train-error", type=float, default=1.0)
    s.add_argument("--out", nargs="+", required=True)

    s = add("report", cmd_report, "a Markdown report of one setting")
    s.add_argument("--setting", required=True)
    s.add_argument("--tables", nargs="+", required=True)
    s.add_argument("--figures", nargs="*", default=[])
    s.add_argument("--out", required=True)

    cli_paper.register(add)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        args.func(args)
    except (ValueError, FileNotFoundError) as error:
        log(f"sharpgen {args.command}: error: {error}")
        return 2
    return 0
