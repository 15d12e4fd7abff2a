"""Setting "bert": BERT-base fine-tuned on MNLI, 100 seeds ("BERTs of a feather", McCoy et al. 2020).

Checkpoints: Zenodo record 4110593, ``bert_{00..99}.zip``, each a TF1 google-research/bert
checkpoint (``bert_config.json``, ``vocab.txt``, ``model.ckpt-*.index/.data-*``) read here
without TensorFlow (see :mod:`sharpgen.settings.tfbundle`). Output label order of the
classifier, from google-research/bert ``MnliProcessor.get_labels``: contradiction,
entailment, neutral. Published per-run accuracies: ``data/hans_berts_of_a_feather_accuracies_by_run.csv``.
"""

from __future__ import annotations

import json
import re
import zipfile
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from transformers import BertConfig, BertForSequenceClassification

from sharpgen.settings import tfbundle

SETTING = "bert"
URL = "https://zenodo.org/record/4110593/files/bert_{run:02d}.zip"
N_RUNS = 100
LABELS = ("contradiction", "entailment", "neutral")
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


def tf_to_torch_name(name: str) -> str | None:
    """State-dict key of transformers' BertForSequenceClassification for a TF variable, or None to skip."""
    if name in ("output_weights", "output_bias"):
        return "classifier." + ("weight" if name == "output_weights" else "bias")
    if not name.startswith("bert/") or name.endswith(("adam_m", "adam_v")):
        return None
    key = re.sub(r"layer_(\d+)", r"layer.\1", name).replace("/", ".")
    key = re.sub(r"\.(kernel|gamma)$", ".weight", key)
    key = re.sub(r"\.beta$", ".bias", key)
    if key.endswith("_embeddings"):
        key += ".weight"
    return key


def convert_state_dict(tensors: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Rename TF variables to PyTorch keys; dense kernels (in, out) become weights (out, in)."""
    out: dict[str, torch.Tensor] = {}
    for name, array in tensors.items():
        key = tf_to_torch_name(name)
        if key is None:
            continue
        if name.endswith("/kernel"):
            array = array.T
        out[key] = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    return out


def unpack(archive: Path) -> Path:
    """Extract ``bert_XX.zip`` next to itself (once) and return the directory."""
    target = archive.with_suffix("")
    if not (target / ".complete").exists():
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(target)
        (target / ".complete").touch()
    return target


def find_file(directory: Path, name: str) -> Path:
    """The single file called ``name`` under ``directory``."""
    found = sorted(directory.rglob(name))
    if len(found) != 1:
        raise FileNotFoundError(f"expected one {name} under {directory}, found {len(found)}")
    return found[0]


class BertClassifier(nn.Module):
    """One-tensor wrapper: input LongTensor (B, 3, L) = (input_ids, attention_mask, token_type_ids)."""

    def __init__(self, bert: BertForSequenceClassification) -> None:
        super().__init__()
        self.bert = bert

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, 3) in label order contradiction, entailment, neutral."""
        if x.ndim != 3 or x.shape[1] != 3:
            raise ValueError(f"BertClassifier expects a (B, 3, L) LongTensor, got shape {tuple(x.shape)}")
        return self.bert(input_ids=x[:, 0], attention_mask=x[:, 1], token_type_ids=x[:, 2]).logits


def load_model(path: Path, device: torch.device) -> BertClassifier:
    """Load a McCoy et al. checkpoint (the .zip or its extracted directory) into a BertClassifier."""
    path = Path(path)
    directory = unpack(path) if path.suffix == ".zip" else path
    config_path = find_file(directory, "bert_config.json")
    config = BertConfig(**json.loads(config_path.read_text()), num_labels=len(LABELS),
                        id2label=dict(enumerate(LABELS)), label2id={l: i for i, l in enumerate(LABELS)})
    model = BertForSequenceClassification(config)
    prefix = tfbundle.checkpoint_prefix(directory)
    state = convert_state_dict(tfbundle.read_checkpoint(prefix, keep=lambda n: tf_to_torch_name(n) is not None))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"TF checkpoint {prefix} does not match {config_path}: missing {missing}, "
            f"unexpected {unexpected}. Is this an MNLI run_classifier checkpoint?"
        )
    return BertClassifier(model).to(device).eval()
