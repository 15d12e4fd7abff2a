"""The command line that workflow rules call: ``python -m sharpgen <command> ...``.

Each command parses its arguments and calls one function of :mod:`sharpgen.jobs` (named as the
command), which writes the outputs atomically. Heavy imports happen inside those functions.
"""

from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path

from sharpgen.log import log


def model_arg(text: str) -> tuple[str, Path, str]:
    """``ID=PATH@ARCH``: a model id, its checkpoint and its sheet's architecture string."""
    model_id, sep, rest = text.partition("=")
    path, at, arch = rest.rpartition("@")
    if not sep or not model_id or not at or not path or not arch:
        raise argparse.ArgumentTypeError(f"expected ID=PATH@ARCH, got {text!r}")
    return model_id, Path(path), arch


def input_arg(text: str) -> tuple[str, Path]:
    """``NAME=PATH``: a named input file of a data or metrics step."""
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH, got {text!r}")
    return name, Path(path)


def only_arg(text: str) -> tuple[str, list[int]]:
    """``ID=I,J,...``: a model and the positions of its definitions."""
    model_id, sep, rest = text.partition("=")
    try:
        positions = [int(i) for i in rest.split(",") if i]
    except ValueError:
        positions = []
    if not sep or not model_id or not positions:
        raise argparse.ArgumentTypeError(f"expected ID=I,J,... (definition positions), got {text!r}")
    return model_id, positions


def json_arg(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not valid JSON ({error})") from None


def definitions_arg(text: str):
    from sharpgen.sharpness.definition import Definition

    return [Definition.from_dict(d) for d in json_arg(text)]


def measures_arg(text: str):
    from sharpgen.measures import Measure

    try:
        return [Measure.from_dict(d) for d in json_arg(text)]
    except (TypeError, ValueError) as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _job(module: str):
    """The job module ``sharpgen.jobs.<module>``, imported only when its command runs."""
    return importlib.import_module(f"sharpgen.jobs.{module}")


def _run(a: argparse.Namespace) -> None:
    """Call the command's job function with the parsed arguments."""
    inputs = dict(getattr(a, "input", None) or [])
    calls = {
        "prepare-dataset": lambda: _job("data").prepare_dataset(a.setting, a.block, inputs, a.out_dataset, a.out_split),
        "prepare-subset": lambda: _job("data").prepare_subset(a.setting, a.block, a.n, a.seed, inputs, a.out, a.out_table),
        "train": lambda: _job("models").train_model(a.setting, a.row, a.dataset, a.threads, a.out_checkpoint, a.out_history, a.precision),
        "download": lambda: _job("models").download(a.url, a.out, a.lock, a.trust_first_download),
        "extract": lambda: _job("models").extract_archive(a.archive, a.out),
        "import-checkpoint": lambda: _job("models").import_checkpoint(a.setting, a.model_id, a.source, a.out),
        "evaluate": lambda: _job("metrics").evaluate_models(a.setting, a.model, a.dataset, a.threads, a.out, a.precision),
        "published-metrics": lambda: _job("metrics").published_metrics(a.setting, a.models, a.model_ids, inputs, a.out),
        "sharpness": lambda: _job("sharpness").sharpness(
            a.setting, a.model, a.subset, a.definitions, a.cache_dir, a.threads, a.out, dict(a.only), a.calibration, a.precision),
        "measures": lambda: _job("measures").measures(a.setting, a.model, a.subset, a.measures, a.cache_dir, a.threads, a.out),
        "models-table": lambda: _job("tables").models_table(a.setting, a.block, a.out),
        "aggregate": lambda: _job("tables").aggregate(a.kind, a.inputs, a.out),
        "correlate": lambda: _job("tables").correlate(
            a.setting, a.models, a.metrics, a.sharpness, a.group_by, a.axes, a.max_train_error,
            a.out_table, a.out_granulated, a.out_markdown, a.hyperparameters, a.resamples, a.confidence, a.seed,
            a.measures, a.oracle, a.published, a.out_reproduction, a.out_reproduction_markdown),
        "task-average": lambda: _job("tables").task_average(a.input, a.out_table, a.out_markdown),
        "drift": lambda: _job("tables").drift_table(a.setting, a.metrics, a.published, a.threshold, a.out_table, a.out_markdown),
        "plot": lambda: _job("figures").plot(
            a.setting, a.definition, a.models, a.metrics, a.sharpness, a.targets, a.color, a.marker or None,
            a.max_train_error, a.out, a.where),
        "plot-ablation": lambda: _job("figures").plot_ablation(a.setting, a.quantity, a.correlation, a.sharpness, a.targets, a.out),
        "plot-captures": lambda: _job("figures").plot_captures(
            a.setting, a.hyperparameter, a.models, a.metrics, a.sharpness, a.max_train_error, a.out),
        "html-report": lambda: _job("report").html_report(
            a.setting, a.correlation, a.granulated, a.figures, a.captures, a.color, a.marker or None,
            a.max_train_error, a.out, a.curvature, a.reproduction, a.drift, a.drift_threshold,
            a.radius_check, a.subsets, a.subsets_figures, a.task_average),
        "report": lambda: _job("report").report(a.setting, a.tables, a.figures, a.out, a.sections),
        "theory-dln": lambda: _job("theory").dln(a.lr, a.alpha, a.steps, a.seed, a.out_table, a.out),
        "theory-scale": lambda: _job("theory").classifier_scale(a.alpha, a.rho, a.n_samples, a.seed, a.out_table, a.out),
        "theory-linear": lambda: _job("theory").linear_model(a.seed, a.out_table, a.out),
        "theory-dln-population": lambda: _job("theory").dln_population(
            a.lr, a.alpha, a.seeds, a.rho_avg, a.rho_max, a.n_samples, a.seed, a.out_table, a.out_tau, a.out),
        "plot-curvature": lambda: _job("curvature").plot_curvature(
            a.setting, a.model, a.subset, a.rho, a.n, a.n_samples, a.probes, a.threads, a.out),
        "calibrate": lambda: _job("sharpness").calibrate(a.setting, a.model, a.subset, a.m, a.threads, a.out, a.precision),
        "tau-subsets": lambda: _job("checks").tau_subsets(
            a.setting, a.metrics, a.sharpness, a.targets, a.k, a.draws, a.seed, a.max_train_error, a.out_table, a.out_markdown),
        "plot-tau-subsets": lambda: _job("checks").plot_tau_subsets(
            a.setting, a.definition, a.metrics, a.sharpness, a.targets, a.k, a.draws, a.seed, a.max_train_error, a.out),
        "radius-check": lambda: _job("checks").radius_table(
            a.setting, a.sharpness, a.model_ids, a.subset_table, a.noise, a.saturation, a.out_table, a.out_markdown),
        "estimate": lambda: _estimate(a),
        "settings": _list_settings,
    }
    calls[a.command]()


def _estimate(a: argparse.Namespace) -> None:
    from sharpgen.estimate import estimate, merged_config, report

    overrides = dict(item.split("=", 1) for item in a.config)
    print(report(estimate(merged_config(a.configfile, overrides), a.calibration_dir)))


def _list_settings() -> None:
    from sharpgen import settings

    for name in settings.names():
        print(f"{name}: {settings.get(name).description}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sharpgen", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    def add(name: str, help_: str, *required: str, setting: bool = True) -> argparse.ArgumentParser:
        s = sub.add_parser(name, help=help_)
        if setting:
            s.add_argument("--setting", required=True)
        for arg in required:
            s.add_argument(f"--{arg}", required=True, type=Path if arg.startswith("out") or arg in PATHS else str)
        return s

    s = add("prepare-dataset", "a setting's evaluation splits", "out-dataset", "out-split")
    s.add_argument("--block", type=json_arg, required=True, help="the setting's data keys as JSON")
    s.add_argument("--input", type=input_arg, nargs="*", default=[], metavar="NAME=PATH")

    s = add("prepare-subset", "the sharpness subset of a setting and its table", "out", "out-table")
    s.add_argument("--block", type=json_arg, required=True, help="the setting's data keys as JSON")
    s.add_argument("--n", type=int, required=True)
    s.add_argument("--seed", type=int, required=True, help="seed of the sample (settings that sample)")
    s.add_argument("--input", type=input_arg, nargs="*", default=[], metavar="NAME=PATH")

    s = add("train", "train one model of a setting", "dataset", "out-checkpoint", "out-history")
    s.add_argument("--row", type=json_arg, required=True, help="the model sheet row as JSON")
    s.add_argument("--threads", type=int, default=1)
    s.add_argument("--precision", choices=["fp32", "tf32"], default="fp32", help="matmuls and convolutions (the setting's precision key)")

    s = add("download", "download one file (resumable, atomic, verified)", "url", "out", setting=False)
    s.add_argument("--lock", type=Path, required=True, help="JSON file of expected sizes and digests by URL")
    s.add_argument("--trust-first-download", action="store_true", help="download a URL the lock lacks and record its digest there")
    add("extract", "extract a zip archive atomically into the folder of --out (its record)", "archive", "out", setting=False)
    add("import-checkpoint", "link a user's local checkpoint into the results", "model-id", "source", "out")

    s = add("evaluate", "loss and error of models on every split", "dataset", "out")
    s.add_argument("--model", type=model_arg, nargs="+", required=True, metavar="ID=PATH@ARCH")
    s.add_argument("--threads", type=int, default=1)
    s.add_argument("--precision", choices=["fp32", "tf32"], default="fp32", help="matmuls and convolutions (the setting's precision key)")

    s = add("published-metrics", "metrics table from a collection's published accuracies", "models", "out")
    s.add_argument("--model-ids", nargs="+", required=True)
    s.add_argument("--input", type=input_arg, nargs="*", default=[], metavar="NAME=PATH")

    s = add("sharpness", "every definition for some models (each pair cached)", "subset", "cache-dir", "out")
    s.add_argument("--model", type=model_arg, nargs="+", required=True, metavar="ID=PATH@ARCH")
    s.add_argument("--definitions", type=definitions_arg, required=True, help="JSON list of definition dicts")
    s.add_argument("--only", type=only_arg, nargs="*", default=[], metavar="ID=I,J,...",
                   help="compute only these definitions (positions in --definitions) for model ID")
    s.add_argument("--calibration", type=Path, nargs="*", default=[],
                   help="calibrations of the models' architectures (<arch key>.json): their measured noise path is used")
    s.add_argument("--precision", choices=["fp32", "tf32"], default="fp32", help="matmuls and convolutions (the setting's precision key)")
    s.add_argument("--threads", type=int, default=1)

    s = add("measures", "every baseline/curvature measure for some models (each pair cached)", "subset", "cache-dir", "out")
    s.add_argument("--model", type=model_arg, nargs="+", required=True, metavar="ID=PATH@ARCH")
    s.add_argument("--measures", type=measures_arg, required=True, help="JSON list of measure dicts")
    s.add_argument("--threads", type=int, default=1)

    s = add("models-table", "a setting's model sheet as its models table", "out")
    s.add_argument("--block", type=json_arg, required=True, help="the setting's sheet keys as JSON")

    s = add("aggregate", "concatenate per-job tables", "out", setting=False)
    s.add_argument("--kind", choices=["metrics", "history", "sharpness", "measures"], required=True)
    s.add_argument("--inputs", type=Path, nargs="+", required=True)

    s = add("correlate", "Kendall tau tables (Parquet and Markdown)", "models", "metrics", "sharpness", "out-table", "out-granulated", "out-markdown")
    s.add_argument("--group-by", nargs="*", default=[])
    s.add_argument("--axes", nargs="*", default=[])
    s.add_argument("--max-train-error", type=float, default=1.0)
    s.add_argument("--hyperparameters", nargs="*", default=[], help="model columns correlated beside the errors")
    s.add_argument("--resamples", type=int, default=0, help="bootstrap resamples and permutations per tau (0: none)")
    s.add_argument("--confidence", type=float, default=0.95)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--measures", type=Path, default=None, help="the aggregated measures table, if any")
    s.add_argument("--oracle", type=float, nargs="*", default=[], help="noise levels of the oracle rows")
    s.add_argument("--published", type=Path, default=None, help="a published table (CSV) of the paper's values, if any")
    s.add_argument("--out-reproduction", type=Path, default=None, help="the paper's values beside ours (Parquet)")
    s.add_argument("--out-reproduction-markdown", type=Path, default=None, help="the same as the report's Markdown section")

    s = add("task-average", "the PGDL score of every task and its mean over tasks (Parquet and Markdown)", "out-table", "out-markdown", setting=False)
    s.add_argument("--input", type=input_arg, nargs="+", required=True, metavar="TASK=PATH", help="each task's granulated table, in order")

    s = add("drift", "evaluated vs published accuracies per model and split (Parquet and Markdown)", "out-table", "out-markdown")
    s.add_argument("--metrics", type=Path, nargs="+", required=True, help="the evaluated metrics (the aggregated table, or one per job)")
    s.add_argument("--published", type=Path, nargs="+", required=True, help="the published metrics tables (one per job)")
    s.add_argument("--threshold", type=float, default=0.5, help="percentage points above which a model is flagged")

    s = add("plot", "error vs sharpness for one definition (PNG/PDF)", "models", "metrics", "sharpness", "definition")
    s.add_argument("--targets", nargs="+", required=True)
    s.add_argument("--color", default="lr")
    s.add_argument("--marker", default=None)
    s.add_argument("--max-train-error", type=float, default=1.0)
    s.add_argument("--where", default=None, metavar="COLUMN=VALUE", help="only the models with this value (a figure view)")
    s.add_argument("--out", type=Path, nargs="+", required=True)

    s = add("plot-ablation", "Kendall's tau against an ablated quantity of the definitions (appendix H)", "correlation", "sharpness")
    s.add_argument("--quantity", choices=["m", "n_iters", "data"], required=True)
    s.add_argument("--targets", nargs="+", required=True)
    s.add_argument("--out", type=Path, nargs="+", required=True)

    s = add("plot-captures", "sharpness vs a hyperparameter, coloured by test error (PNG/PDF)", "models", "metrics", "sharpness", "hyperparameter")
    s.add_argument("--max-train-error", type=float, default=1.0)
    s.add_argument("--out", type=Path, nargs="+", required=True)

    s = add("report", "a Markdown report of one setting", "out")
    s.add_argument("--tables", type=Path, nargs="+", required=True)
    s.add_argument("--figures", type=Path, nargs="*", default=[])
    s.add_argument("--sections", type=Path, nargs="*", default=[], help="Markdown sections before the tau tables, in order")

    def subsets_args(s: argparse.ArgumentParser) -> None:
        s.add_argument("--targets", nargs="+", required=True)
        s.add_argument("--k", type=int, required=True, help="models per subset")
        s.add_argument("--draws", type=int, required=True, help="random subsets")
        s.add_argument("--seed", type=int, default=0)
        s.add_argument("--max-train-error", type=float, default=1.0)

    s = add("tau-subsets", "tau over random subsets of k models: quantiles (Parquet and Markdown)", "metrics", "sharpness", "out-table", "out-markdown")
    subsets_args(s)
    s = add("plot-tau-subsets", "histograms of tau over random subsets of k models for one definition (PNG/PDF)", "metrics", "sharpness", "definition")
    subsets_args(s)
    s.add_argument("--out", type=Path, nargs="+", required=True)

    s = add("radius-check", "loss and error increase per definition over a few models, flagged (prints it)", "subset-table", "out-table", "out-markdown")
    s.add_argument("--sharpness", type=Path, nargs="+", required=True, help="sharpness tables of the jobs holding the models")
    s.add_argument("--model-ids", nargs="+", required=True, help="the checked models")
    s.add_argument("--noise", type=float, default=2.0, help="lost in noise: |median increase| <= noise x its MC error")
    s.add_argument("--saturation", type=float, default=0.9, help="saturated: perturbed error >= saturation x chance error")

    s = add("calibrate", "time one model's passes at each m (the cost model's input)", "subset", "out")
    s.add_argument("--model", type=model_arg, required=True, metavar="ID=PATH@ARCH")
    s.add_argument("--m", type=int, nargs="+", required=True)
    s.add_argument("--threads", type=int, default=1)
    s.add_argument("--precision", choices=["fp32", "tf32"], default="fp32", help="matmuls and convolutions (the setting's precision key)")

    s = add("estimate", "jobs, pairs, passes and predicted hours of a study, before it runs", setting=False)
    s.add_argument("--configfile", type=Path, nargs="*", default=[])
    s.add_argument("--config", nargs="*", default=[], metavar="KEY=VALUE", help="top-level overrides, e.g. grid=paper")
    s.add_argument("--calibration-dir", type=Path, default=Path("results/calibration"))

    s = add("html-report", "one self-contained HTML page of a setting's tables and figures", "correlation", "granulated", "out")
    s.add_argument("--figures", type=Path, nargs="*", default=[])
    s.add_argument("--captures", type=Path, nargs="*", default=[])
    s.add_argument("--curvature", type=Path, nargs="*", default=[])
    s.add_argument("--reproduction", type=Path, default=None, help="the reproduction table (Parquet)")
    s.add_argument("--drift", type=Path, default=None, help="the drift table (Parquet), if the setting has one")
    s.add_argument("--drift-threshold", type=float, default=0.5)
    s.add_argument("--radius-check", type=Path, default=None, help="the radius check table")
    s.add_argument("--subsets", type=Path, nargs="*", default=[], help="the table of tau over random subsets, if any")
    s.add_argument("--subsets-figures", type=Path, nargs="*", default=[])
    s.add_argument("--task-average", type=Path, default=None, help="the PGDL score averaged over tasks (Parquet), for a PGDL task")
    s.add_argument("--color", default="lr")
    s.add_argument("--marker", default=None)
    s.add_argument("--max-train-error", type=float, default=1.0)

    s = add("theory-dln", "diagonal linear networks: a grid of lr x init scale, sharpness limits and norms", "out-table", setting=False)
    s.add_argument("--lr", type=float, nargs="+", required=True)
    s.add_argument("--alpha", type=float, nargs="+", required=True)
    s.add_argument("--steps", type=int, required=True)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", type=Path, nargs="+", required=True)

    s = add("theory-scale", "sharpness of a linear classifier against the scale of its weights", "out-table", setting=False)
    s.add_argument("--alpha", type=float, nargs="+", required=True)
    s.add_argument("--rho", type=float, required=True)
    s.add_argument("--n-samples", type=int, required=True)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", type=Path, nargs="+", required=True)

    s = add("theory-linear", "the authors' notebook: closed-form worst-case sharpness of a logistic regression against its scale", "out-table", setting=False)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", type=Path, nargs="+", required=True)

    s = add("theory-dln-population", "a population of diagonal linear networks: which sharpness ranks their test loss", "out-table", setting=False)
    s.add_argument("--lr", type=float, nargs="+", required=True)
    s.add_argument("--alpha", type=float, nargs="+", required=True)
    s.add_argument("--seeds", type=int, nargs="+", required=True)
    s.add_argument("--rho-avg", type=float, required=True)
    s.add_argument("--rho-max", type=float, required=True)
    s.add_argument("--n-samples", type=int, required=True)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out-tau", type=Path, required=True)
    s.add_argument("--out", type=Path, nargs="+", required=True)

    s = add("plot-curvature", "average-case adaptive sharpness / rho^2 against half the adaptive Hessian trace", "subset")
    s.add_argument("--model", type=model_arg, nargs="+", required=True, metavar="ID=PATH@ARCH")
    s.add_argument("--rho", type=float, nargs="+", required=True)
    s.add_argument("--n", type=int, required=True)
    s.add_argument("--n-samples", type=int, required=True)
    s.add_argument("--probes", type=int, required=True)
    s.add_argument("--threads", type=int, default=1)
    s.add_argument("--out", type=Path, nargs="+", required=True)

    add("settings", "list the registered settings", setting=False)
    return p


PATHS = ("dataset", "models", "metrics", "sharpness", "subset", "subset-table", "cache-dir", "source", "correlation", "granulated", "archive")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        _run(args)
    except (ValueError, FileNotFoundError) as error:
        log(f"sharpgen {args.command}: error: {error}")
        return 2
    return 0
