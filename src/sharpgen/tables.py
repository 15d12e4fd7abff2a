"""The Parquet tables of sharpgen: their explicit pyarrow schemas, and the only reader/writer.

Tidy, long tables of raw numbers, sorted deterministically:
- models:      one row per model (identity, source, hyperparameters); hyperparameter columns
               differ per setting and are typed by HYPERPARAMETERS.
- metrics:     one row per (model, split): loss and error on train, test and each shift.
- history:     one row per (model, epoch): the training curve.
- sharpness:   one row per (model, definition): every field of the definition, sharpness of
               loss and error, clean values, diagnostics, device and versions.
- correlation: one row per (definition, target, subgroup): Kendall tau-b, tau-a, p-value.
- granulated:  one row per (definition, target, axis): Jiang et al.'s psi and Psi.
"""

from __future__ import annotations

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

# Where a downloaded model comes from (paper settings): upstream URL and file name.
DOWNLOAD = [pa.field("url", pa.string()), pa.field("filename", pa.string())]

HYPERPARAMETERS: Mapping[str, list[pa.Field]] = {
    "digits": [
        pa.field("optimizer", pa.string()),
        pa.field("lr", pa.float64()),
        pa.field("batch_size", pa.int64()),
        pa.field("augment", pa.bool_()),
        pa.field("sam_rho", pa.float64()),
        pa.field("weight_decay", pa.float64()),
        pa.field("epochs", pa.int64()),
        pa.field("width", pa.int64()),
        pa.field("seed", pa.int64()),
    ],
    # sharpgen.settings.augreg.select: upstream recipe parsed from the file name, the
    # fine-tune's recipe, and the index's accuracies (null when planned without index.csv).
    "augreg": [
        *DOWNLOAD,
        pa.field("aug", pa.string()),
        pa.field("wd", pa.float64()),
        pa.field("do", pa.float64()),
        pa.field("sd", pa.float64()),
        pa.field("lr", pa.float64()),
        pa.field("epochs", pa.int64()),
        pa.field("adapt_lr", pa.float64()),
        pa.field("adapt_res", pa.int64()),
        pa.field("adapt_steps", pa.int64()),
        pa.field("upstream_best_val", pa.float64()),
        pa.field("imagenet_minival_acc", pa.float64()),
        pa.field("imagenet_acc", pa.float64()),
    ],
    # sharpgen.settings.soups.manifest: hparam_info.json and individual_model_results.jsonl.
    "soups": [
        *DOWNLOAD,
        pa.field("is_init", pa.bool_()),
        pa.field("lr", pa.float64()),
        pa.field("wd", pa.float64()),
        pa.field("epochs", pa.int64()),
        pa.field("randaug", pa.string()),
        pa.field("mixup", pa.float64()),
        pa.field("label_smoothing", pa.float64()),
        pa.field("imagenet_acc", pa.float64()),
        pa.field("imagenetv2_acc", pa.float64()),
        pa.field("imagenet_sketch_acc", pa.float64()),
        pa.field("imagenet_r_acc", pa.float64()),
        pa.field("objectnet_acc", pa.float64()),
        pa.field("imagenet_a_acc", pa.float64()),
        pa.field("imagenet_heldout2p_acc", pa.float64()),
    ],
    # sharpgen.settings.bert.manifest: the run index and berts_of_a_feather_accuracies_by_run.csv
    # (MNLI dev matched, the six HANS heuristic x label subsets, overall, the 30 subcases).
    "bert": [
        *DOWNLOAD,
        pa.field("seed_index", pa.int64()),
        pa.field("mnli_dev_acc", pa.float64()),
        pa.field("hans_lexical_entailed", pa.float64()),
        pa.field("hans_subsequence_entailed", pa.float64()),
        pa.field("hans_constituent_entailed", pa.float64()),
        pa.field("hans_lexical_nonentailed", pa.float64()),
        pa.field("hans_subsequence_nonentailed", pa.float64()),
        pa.field("hans_constituent_nonentailed", pa.float64()),
        pa.field("hans_overall_acc", pa.float64()),
        pa.field("hans_ln_subject_object_swap", pa.float64()),
        pa.field("hans_ln_preposition", pa.float64()),
        pa.field("hans_ln_relative_clause", pa.float64()),
        pa.field("hans_ln_passive", pa.float64()),
        pa.field("hans_ln_conjunction", pa.float64()),
        pa.field("hans_le_relative_clause", pa.float64()),
        pa.field("hans_le_around_prepositional_phrase", pa.float64()),
        pa.field("hans_le_around_relative_clause", pa.float64()),
        pa.field("hans_le_conjunction", pa.float64()),
        pa.field("hans_le_passive", pa.float64()),
        pa.field("hans_sn_np_s", pa.float64()),
        pa.field("hans_sn_pp_on_subject", pa.float64()),
        pa.field("hans_sn_relative_clause_on_subject", pa.float64()),
        pa.field("hans_sn_past_participle", pa.float64()),
        pa.field("hans_sn_np_z", pa.float64()),
        pa.field("hans_se_conjunction", pa.float64()),
        pa.field("hans_se_adjective", pa.float64()),
        pa.field("hans_se_understood_object", pa.float64()),
        pa.field("hans_se_relative_clause_on_obj", pa.float64()),
        pa.field("hans_se_pp_on_obj", pa.float64()),
        pa.field("hans_cn_embedded_under_if", pa.float64()),
        pa.field("hans_cn_after_if_clause", pa.float64()),
        pa.field("hans_cn_embedded_under_verb", pa.float64()),
        pa.field("hans_cn_disjunction", pa.float64()),
        pa.field("hans_cn_adverb", pa.float64()),
        pa.field("hans_ce_embedded_under_since", pa.float64()),
        pa.field("hans_ce_after_since_clause", pa.float64()),
        pa.field("hans_ce_embedded_under_verb", pa.float64()),
        pa.field("hans_ce_conjunction", pa.float64()),
        pa.field("hans_ce_adverb", pa.float64()),
    ],
    # sharpgen.settings.cifar.manifest on the user's CSV; optional columns are null when absent
    # (sharpgen.plan fills them), ``path`` is the local checkpoint ("" for URLs). Published
    # accuracies, when the CSV has them: train_acc, test_acc, cifar10c_acc.
    "cifar": [
        *DOWNLOAD,
        pa.field("path", pa.string()),
        pa.field("lr", pa.float64()),
        pa.field("sam_rho", pa.float64()),
        pa.field("augment", pa.bool_()),
        pa.field("randaug", pa.bool_()),
        pa.field("epochs", pa.float64()),
        pa.field("batch_size", pa.float64()),
        pa.field("model_width", pa.float64()),
        pa.field("label_noise", pa.float64()),
        pa.field("train_acc", pa.float64()),
        pa.field("test_acc", pa.float64()),
        pa.field("cifar10c_acc", pa.float64()),
    ],
}


def models_schema(setting: str) -> pa.Schema:
    """Identity, arch and source, then the setting's hyperparameters (and download columns)."""
    if setting not in HYPERPARAMETERS:
        raise ValueError(f"no models schema for setting {setting!r}; known: {sorted(HYPERPARAMETERS)}")
    base = [*IDENTITY, pa.field("arch", pa.string()), pa.field("source", pa.string())]
    return pa.schema(base + list(HYPERPARAMETERS[setting]))


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
        pa.field("p_value", pa.float64()),
    ]
)

GRANULATED = pa.schema(
    [
        pa.field("setting", pa.string(), nullable=False),
        pa.field("definition", pa.string(), nullable=False),
        pa.field("target", pa.string(), nullable=False),
        pa.field("axis", pa.string(), nullable=False),
        pa.field("psi", pa.float64()),
        pa.field("n_groups", pa.int64()),
        pa.field("n_skipped", pa.int64()),
    ]
)

SORT_KEYS: Mapping[str, list[str]] = {
    "models": ["setting", "model_id"],
    "metrics": ["setting", "model_id", "split"],
    "history": ["setting", "model_id", "epoch"],
    "sharpness": ["setting", "model_id", "definition"],
    "correlation": ["setting", "definition", "target", "subgroup"],
    "granulated": ["setting", "definition", "target", "axis"],
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
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as error:
        raise ValueError(f"{path}: not a readable Parquet file ({error}); delete it and rerun the workflow") from None
    if not table.schema.equals(schema, check_metadata=False):
        raise ValueError(f"{path}: schema differs from the expected one; delete it and rerun the workflow")
    return table.to_pandas()


def concat(paths: list[str | Path], schema: pa.Schema, kind: str, out: str | Path) -> pd.DataFrame:
    """Concatenate per-model tables into one aggregated table."""
    frames = [read(p, schema) for p in paths]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=schema.names)
    write(frame, out, schema, kind)
    return frame
