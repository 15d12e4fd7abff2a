"""The Parquet tables of sharpgen: their explicit pyarrow schemas, and the only reader/writer.

Tidy, long tables of raw numbers, sorted deterministically:
- models:      one row per model (identity, source, hyperparameters); the columns after the
               identity are declared by each setting (``sharpgen.settings``).
- metrics:     one row per (model, split): loss and error on train, test and each shift.
- history:     one row per (model, epoch): the training curve.
- sharpness:   one row per (model, definition): every field of the definition, sharpness of
               loss and error, clean values, diagnostics, device and versions.
- measures:    one row per (model, measure): baseline and curvature measures (sharpgen.measures).
- correlation: one row per (definition, target, subgroup): Kendall tau-b, tau-a, p-values,
               bootstrap interval, the paper's value where one is published.
- granulated:  one row per (definition, target, axis): Jiang et al.'s psi and Psi (tau-b, tau-a),
               and on the Psi row the PGDL score (conditional mutual information x100).
- reproduction: one row per (published value, candidate): the paper's value beside our tau.
- drift:       one row per (model, split): evaluated vs published accuracy.
- subset:      one row per example of the sharpness data: where it comes from, its label.
- subsets:     one row per (definition, target): quantiles of tau-b over random k-subsets of models.
- radius_check: one row per definition: median loss and error increase over a few models, flag.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Mapping

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sharpgen.atomic import atomic_path

IDENTITY = [
    pa.field("setting", pa.string(), nullable=False),
    pa.field("model_id", pa.string(), nullable=False),
]

ARROW_TYPES = {"string": pa.string(), "float64": pa.float64(), "int64": pa.int64(), "bool": pa.bool_()}


def models_schema(setting: str) -> pa.Schema:
    """Identity, arch and source, then the columns the setting declares (``Setting.columns``)."""
    from sharpgen import settings

    base = [*IDENTITY, pa.field("arch", pa.string()), pa.field("source", pa.string())]
    return pa.schema(base + [pa.field(name, ARROW_TYPES[dtype]) for name, dtype in settings.get(setting).columns])


METRICS = pa.schema(
    [
        *IDENTITY,
        pa.field("split", pa.string(), nullable=False),  # train, test, shift:<name>
        pa.field("loss", pa.float64()),
        pa.field("error", pa.float64()),
        pa.field("n_examples", pa.int64()),
    ]
)

HISTORY = pa.schema(
    [
        *IDENTITY,
        pa.field("epoch", pa.int64(), nullable=False),
        pa.field("lr", pa.float64()),
        pa.field("train_loss", pa.float64()),
        pa.field("train_error", pa.float64()),
        pa.field("seconds", pa.float64()),
    ]
)

DEFINITION_FIELDS = [
    pa.field("definition", pa.string(), nullable=False),
    pa.field("algorithm", pa.string()),
    pa.field("norm", pa.string()),
    pa.field("variant", pa.string()),
    pa.field("rho", pa.float64()),
    pa.field("adaptive", pa.bool_()),
    pa.field("logit_norm", pa.bool_()),
    pa.field("m", pa.int64()),
    pa.field("n_samples", pa.int64()),
    pa.field("antithetic", pa.bool_()),
    pa.field("n_iters", pa.int64()),
    pa.field("momentum", pa.string()),
    pa.field("reset", pa.string()),
    pa.field("init", pa.string()),
    pa.field("restarts", pa.int64()),
    pa.field("seed", pa.int64()),
    pa.field("data", pa.string()),  # train, test or augmented examples (appendix H)
]

SHARPNESS = pa.schema(
    [
        *IDENTITY,
        *DEFINITION_FIELDS,
        pa.field("sharpness_loss", pa.float64()),
        pa.field("sharpness_error", pa.float64()),
        pa.field("sharpness_loss_sem", pa.float64()),
        pa.field("clean_loss", pa.float64()),
        pa.field("clean_error", pa.float64()),
        pa.field("delta_norm", pa.float64()),
        pa.field("halvings", pa.int64()),
        pa.field("forward_passes", pa.int64()),
        pa.field("backward_passes", pa.int64()),
        pa.field("n_batches", pa.int64()),
        pa.field("n_examples", pa.int64()),
        pa.field("n_params", pa.int64()),
        pa.field("seconds", pa.float64()),
        pa.field("device", pa.string()),
        pa.field("torch_version", pa.string()),
        pa.field("sharpgen_version", pa.string()),
        pa.field("fingerprint", pa.string()),  # checkpoint, data subset and engine it came from
    ]
)

CORRELATION = pa.schema(
    [
        pa.field("setting", pa.string(), nullable=False),
        pa.field("definition", pa.string(), nullable=False),
        pa.field("target", pa.string(), nullable=False),
        pa.field("subgroup", pa.string(), nullable=False),
        pa.field("n_models", pa.int64()),
        pa.field("tau_b", pa.float64()),
        pa.field("tau_a", pa.float64()),
        pa.field("p_value", pa.float64()),  # scipy's asymptotic test of tau-b
        pa.field("ci_low", pa.float64()),  # bootstrap interval of tau-b over models
        pa.field("ci_high", pa.float64()),
        pa.field("p_perm", pa.float64()),  # two-sided permutation p-value of tau-b
        pa.field("paper_value", pa.float64()),  # the paper's value where one is published (sharpgen.reproduction)
        pa.field("paper_match", pa.string()),  # exact, candidate of N, minimum over N
    ]
)

REPRODUCTION = pa.schema(
    [
        pa.field("setting", pa.string(), nullable=False),
        pa.field("value_id", pa.int64(), nullable=False),  # the published value's place in the setting's table
        pa.field("statistic", pa.string()),
        pa.field("relation", pa.string()),  # = or min
        pa.field("paper_value", pa.float64()),
        pa.field("source", pa.string()),
        pa.field("note", pa.string()),
        pa.field("compared", pa.string(), nullable=False),  # candidate, or minimum (over the candidates)
        pa.field("definition", pa.string(), nullable=False),
        pa.field("target", pa.string(), nullable=False),
        pa.field("subgroup", pa.string(), nullable=False),
        pa.field("n_models", pa.int64()),  # 0: not computed in this study
        pa.field("ours", pa.float64()),  # tau-b (kendall_tau) or the PGDL score x100 (cmi)
        pa.field("ci_low", pa.float64()),
        pa.field("ci_high", pa.float64()),
        pa.field("p_perm", pa.float64()),
        pa.field("difference", pa.float64()),  # ours - published
        # kendall_tau: the paper's value in our interval; cmi: ours rounded is the published score (null without ours)
        pa.field("inside", pa.bool_()),
    ]
)

DRIFT = pa.schema(
    [
        *IDENTITY,
        pa.field("split", pa.string(), nullable=False),
        pa.field("evaluated_accuracy", pa.float64()),
        pa.field("published_accuracy", pa.float64()),
        pa.field("difference_points", pa.float64()),  # 100 * (evaluated - published)
        pa.field("drifted", pa.bool_()),  # |difference| above the threshold
    ]
)

GRANULATED = pa.schema(
    [
        pa.field("setting", pa.string(), nullable=False),
        pa.field("definition", pa.string(), nullable=False),
        pa.field("target", pa.string(), nullable=False),
        pa.field("axis", pa.string(), nullable=False),
        pa.field("psi", pa.float64()),  # with tau-b within groups
        pa.field("psi_a", pa.float64()),  # with tau-a (Jiang et al.)
        pa.field("n_groups", pa.int64()),
        pa.field("n_skipped", pa.int64()),
        pa.field("cmi", pa.float64()),  # PGDL score x100 over the same axes (sharpgen.cmi); Psi rows only
    ]
)

# the PGDL score per task and its mean over tasks (sharpgen.task_average), across settings
TASK_AVERAGE = pa.schema(
    [
        pa.field("definition", pa.string(), nullable=False),
        pa.field("target", pa.string(), nullable=False),
        pa.field("setting", pa.string(), nullable=False),  # the task, or "mean over tasks"
        pa.field("cmi", pa.float64()),  # PGDL score x100 (the task's, or the mean over the tasks that have one)
        pa.field("n_tasks", pa.int64(), nullable=False),  # tasks behind the value (0 or 1 on a task's row)
    ]
)

SUBSET = pa.schema(
    [
        pa.field("setting", pa.string(), nullable=False),
        pa.field("position", pa.int64(), nullable=False),  # place in the subset (m-batches are consecutive)
        pa.field("label", pa.int64()),
        pa.field("source", pa.string()),  # file (relative to the data root) or split it comes from
        pa.field("index", pa.int64()),  # row of the example in its source
    ]
)

MEASURES = pa.schema(
    [
        *IDENTITY,
        pa.field("measure", pa.string(), nullable=False),  # sharpgen.measures.Measure.id
        pa.field("kind", pa.string()),
        pa.field("value", pa.float64()),
        pa.field("seconds", pa.float64()),
        pa.field("fingerprint", pa.string()),  # checkpoint, data subset and measures source
    ]
)

SUBSETS = pa.schema(
    [
        pa.field("setting", pa.string(), nullable=False),
        pa.field("definition", pa.string(), nullable=False),
        pa.field("target", pa.string(), nullable=False),
        pa.field("n_models", pa.int64()),  # models with both values: the population of the draws
        pa.field("k", pa.int64()),
        pa.field("draws", pa.int64()),
        pa.field("seed", pa.int64()),
        pa.field("tau_all", pa.float64()),  # tau-b over all n_models
        pa.field("tau_first", pa.float64()),  # tau-b over the first k by model id
        pa.field("mean", pa.float64()),
        pa.field("std", pa.float64()),
        *(pa.field(q, pa.float64()) for q in ("q05", "q25", "q50", "q75", "q95")),  # sharpgen.subsets.QUANTILES
        pa.field("n_nan", pa.int64()),  # subsets without a tau-b (constant values)
    ]
)

RADIUS_CHECK = pa.schema(
    [
        pa.field("setting", pa.string(), nullable=False),
        pa.field("definition", pa.string(), nullable=False),
        pa.field("algorithm", pa.string()),
        pa.field("norm", pa.string()),
        pa.field("variant", pa.string()),
        pa.field("rho", pa.float64()),
        pa.field("m", pa.int64()),
        pa.field("n_models", pa.int64()),  # checked models that take the definition
        pa.field("classes", pa.int64()),  # classes in the sharpness data
        pa.field("clean_error", pa.float64()),  # medians over the checked models
        pa.field("loss_increase", pa.float64()),
        pa.field("loss_increase_mc", pa.float64()),  # Monte Carlo error of the median loss increase
        pa.field("error_increase", pa.float64()),
        pa.field("perturbed_error", pa.float64()),
        pa.field("chance_error", pa.float64()),  # 1 - 1/classes
        pa.field("noise", pa.float64()),  # thresholds of the flags (sharpgen.radius)
        pa.field("saturation", pa.float64()),
        pa.field("flag", pa.string()),  # ok, lost in noise, saturated, no MC error
    ]
)

SORT_KEYS: Mapping[str, list[str]] = {
    "subset": ["setting", "position"],
    "measures": ["setting", "model_id", "measure"],
    "models": ["setting", "model_id"],
    "metrics": ["setting", "model_id", "split"],
    "history": ["setting", "model_id", "epoch"],
    "sharpness": ["setting", "model_id", "definition"],
    "correlation": ["setting", "definition", "target", "subgroup"],
    "granulated": ["setting", "definition", "target", "axis"],
    "reproduction": ["setting", "value_id", "compared", "definition", "target", "subgroup"],
    "drift": ["setting", "model_id", "split"],
    "subsets": ["setting", "definition", "target"],
    "radius_check": ["setting", "algorithm", "norm", "variant", "m", "rho", "definition"],
    "task_average": ["definition", "target"],  # then the tasks in the study's order, the mean last
}


def write(frame: pd.DataFrame, path: str | Path, schema: pa.Schema, kind: str) -> None:
    """Validate ``frame`` against ``schema``, sort it, and write it atomically."""
    missing = [f.name for f in schema if f.name not in frame.columns]
    extra = [c for c in frame.columns if c not in schema.names]
    if missing or extra:
        raise ValueError(f"table {kind} for {path}: missing columns {missing}, unexpected columns {extra}")
    ordered = frame[schema.names].sort_values(SORT_KEYS[kind], kind="stable").reset_index(drop=True)
    table = pa.Table.from_pandas(ordered, schema=schema, preserve_index=False)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read(path: str | Path, schema: pa.Schema) -> pd.DataFrame:
    """Read a table and check it has exactly ``schema``; a clear error names the file otherwise."""
    fix = f"delete it and rerun the workflow (rm {shlex.quote(str(path))}, then snakemake as before): it is recomputed"
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as error:
        raise ValueError(f"{path}: not a readable Parquet file ({error}); {fix}") from None
    if not table.schema.equals(schema, check_metadata=False):
        raise ValueError(f"{path}: schema differs from the expected one; {fix}")
    return table.to_pandas()


def concat(paths: list[str | Path], schema: pa.Schema, kind: str, out: str | Path) -> pd.DataFrame:
    """Concatenate per-model tables into one aggregated table."""
    frames = [read(p, schema) for p in paths]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=schema.names)
    write(frame, out, schema, kind)
    return frame
