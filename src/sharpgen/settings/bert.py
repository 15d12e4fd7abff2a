"""Setting "bert": BERT-base fine-tuned on MNLI, 100 seeds ("BERTs of a feather", McCoy et al. 2020).

Checkpoints: Zenodo record 4110593, ``bert_{00..99}.zip``, each a TF1 google-research/bert
checkpoint (``bert_config.json``, ``vocab.txt``, ``model.ckpt-*.index/.data-*``) read here
without TensorFlow (:mod:`sharpgen.networks.bert`). Sharpness data: the first n pairs of GLUE
MNLI ``<data_root>/train.tsv``, tokenised with the first checkpoint's ``vocab.txt``. Published per-run accuracies: ``data/hans_berts_of_a_feather_accuracies_by_run.csv``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from importlib.resources import files
from pathlib import Path
from typing import Any

import pandas as pd

from sharpgen.settings import Collection, Ref, register
from sharpgen.settings.base import SHIFT_PREFIX, data_root

SETTING = "bert"
URL = "https://zenodo.org/record/4110593/files/bert_{run:02d}.zip"
N_RUNS = 100
MNLI_LAYOUT = "GLUE MNLI: <data_root>/train.tsv (and dev_matched.tsv)"
ACCURACIES_FILE = "hans_berts_of_a_feather_accuracies_by_run.csv"
_SUMMARY_COLUMNS = {
    "MNLI dev acc.": "mnli_dev_acc",
    "Lexical (entailed)": "hans_lexical_entailed",
    "Subseq (entailed)": "hans_subsequence_entailed",
    "Constituent (entailed)": "hans_constituent_entailed",
    "Lexical (nonent)": "hans_lexical_nonentailed",
    "Subseq (nonent)": "hans_subsequence_nonentailed",
    "Constituent (nonent)": "hans_constituent_nonentailed",
    "Overall accuracy": "hans_overall_acc",
}


def read_accuracies(path: Path) -> pd.DataFrame:
    """Per-run accuracies (fractions) from the HANS csv; summary and blank rows are dropped."""
    table = pd.read_csv(path, encoding="utf-8-sig", dtype=str)
    if "Run" not in table.columns:
        raise ValueError(f"{path} has no 'Run' column; is it berts_of_a_feather_accuracies_by_run.csv?")
    runs = table["Run"].str.fullmatch(r"Run \d+", na=False)
    table = table[runs]
    out = pd.DataFrame({"run": table["Run"].str.removeprefix("Run ").astype(int)})
    for col in table.columns.drop("Run"):
        name = _SUMMARY_COLUMNS.get(col) or "hans_" + re.sub(r"[^0-9a-z]+", "_", col.lower()).strip("_")
        out[name] = table[col].astype(float)
    if sorted(out["run"]) != list(range(N_RUNS)):
        raise ValueError(f"{path}: expected rows 'Run 0'..'Run {N_RUNS - 1}', got {len(out)} runs")
    return out.reset_index(drop=True)


def manifest(accuracies_path: Path | None = None) -> pd.DataFrame:
    """The 100-run model sheet with published MNLI-dev and HANS accuracies."""
    path = accuracies_path or Path(str(files("sharpgen.settings") / "data" / ACCURACIES_FILE))
    acc = read_accuracies(path).sort_values("run", ignore_index=True)
    sheet = pd.DataFrame({
        "setting": SETTING,
        "model_id": [f"bert_{r:02d}" for r in acc["run"]],
        "arch": "bert-base-uncased",
        "source": "download",
        "url": [URL.format(run=r) for r in acc["run"]],
        "filename": [f"bert_{r:02d}.zip" for r in acc["run"]],
        "seed_index": acc["run"].astype(int),
    })
    return pd.concat([sheet, acc.drop(columns="run")], axis=1)


@register
class Bert(Collection):
    name = SETTING
    description = "BERT-base fine-tuned on MNLI with 100 seeds (McCoy et al. 2020), tested on HANS."
    columns = (
        ("url", "string"), ("filename", "string"), ("seed_index", "int64"),
        *((c, "float64") for c in _SUMMARY_COLUMNS.values()),
        *((c, "float64") for c in (
            "hans_ln_subject_object_swap", "hans_ln_preposition", "hans_ln_relative_clause", "hans_ln_passive",
            "hans_ln_conjunction", "hans_le_relative_clause", "hans_le_around_prepositional_phrase",
            "hans_le_around_relative_clause", "hans_le_conjunction", "hans_le_passive", "hans_sn_np_s",
            "hans_sn_pp_on_subject", "hans_sn_relative_clause_on_subject", "hans_sn_past_participle", "hans_sn_np_z",
            "hans_se_conjunction", "hans_se_adjective", "hans_se_understood_object", "hans_se_relative_clause_on_obj",
            "hans_se_pp_on_obj", "hans_cn_embedded_under_if", "hans_cn_after_if_clause", "hans_cn_embedded_under_verb",
            "hans_cn_disjunction", "hans_cn_adverb", "hans_ce_embedded_under_since", "hans_ce_after_since_clause",
            "hans_ce_embedded_under_verb", "hans_ce_conjunction", "hans_ce_adverb",
        )),
    )
    published = {
        "mnli_dev_acc": "test",
        **{f"hans_{h}_{label}": f"{SHIFT_PREFIX}hans_{h}_{label}"
           for h in ("lexical", "subsequence", "constituent") for label in ("entailed", "nonentailed")},
    }
    defaults = {"figures": {"color": "hans_overall_acc", "marker": None}}

    def collection(self, block: Mapping[str, Any]) -> pd.DataFrame:
        return manifest()

    def subset_inputs(self, block: Mapping[str, Any], sheet: pd.DataFrame) -> dict[str, Ref]:
        return {"checkpoint": Ref("checkpoint", str(sheet["model_id"].iloc[0]))}  # its vocab.txt tokenises

    def subset(self, block: Mapping[str, Any], n: int, inputs: Mapping[str, Path]):
        from sharpgen.data.sources.mnli import encode, read_mnli, tokenizer
        from sharpgen.networks.bert import checkpoint_dir, find_file

        pairs = read_mnli(data_root(self.name, block, "train.tsv", MNLI_LAYOUT))
        if len(pairs) < n:
            raise ValueError(f"bert.sharpness.n = {n} but MNLI train has only {len(pairs)} pairs; lower it")
        vocab = find_file(checkpoint_dir(Path(inputs["checkpoint"])), "vocab.txt")
        return encode(pairs.head(n), tokenizer(vocab), 128)

    def load_model(self, path: Path, arch: str, device):
        from sharpgen.networks.bert import load_bert

        return load_bert(path).to(device).eval()
