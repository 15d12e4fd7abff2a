"""MNLI (GLUE TSV) and HANS readers, tokenised into the (B, 3, L) tensor of BertClassifier."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import torch
from transformers import BertTokenizer

LABELS = ("contradiction", "entailment", "neutral")  # order of the McCoy et al. classifier
HANS_COLUMNS = ("gold_label", "sentence1_binary_parse", "sentence2_binary_parse", "sentence1_parse",
                "sentence2_parse", "sentence1", "sentence2", "pairID", "heuristic", "subcase", "template")


def _read_tsv(path: Path, required: tuple[str, ...]) -> pd.DataFrame:
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path} not found")
    table = pd.read_csv(path, sep="\t", quoting=csv.QUOTE_NONE, dtype=str, keep_default_na=False)
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing TSV columns {missing}")
    return table


def read_mnli(path: Path) -> pd.DataFrame:
    """Premise, hypothesis, label id from a GLUE MNLI TSV (train.tsv, dev_matched.tsv, ...)."""
    table = _read_tsv(path, ("sentence1", "sentence2"))
    label_col = "gold_label" if "gold_label" in table else "label"
    unknown = sorted(set(table[label_col]) - set(LABELS))
    if unknown:
        raise ValueError(f"{path}: unknown labels {unknown}; expected {LABELS}")
    return pd.DataFrame({"premise": table["sentence1"], "hypothesis": table["sentence2"],
                         "label": table[label_col].map(LABELS.index).astype("int64")})


def read_hans(path: Path) -> pd.DataFrame:
    """HANS ``heuristics_evaluation_set.txt``: premise, hypothesis, label id, heuristic, subcase.

    HANS labels are entailment / non-entailment; non-entailment maps to contradiction's id here
    (evaluation must merge contradiction and neutral predictions, as McCoy et al. do).
    """
    table = _read_tsv(path, HANS_COLUMNS)
    unknown = sorted(set(table["gold_label"]) - {"entailment", "non-entailment"})
    if unknown:
        raise ValueError(f"{path}: unknown HANS labels {unknown}")
    label = (table["gold_label"] == "entailment").map({True: LABELS.index("entailment"),
                                                      False: LABELS.index("contradiction")})
    return pd.DataFrame({"premise": table["sentence1"], "hypothesis": table["sentence2"],
                         "label": label.astype("int64"), "heuristic": table["heuristic"],
                         "subcase": table["subcase"], "template": table["template"]})


def tokenizer(vocab_file: Path) -> BertTokenizer:
    """An uncased WordPiece tokenizer from a checkpoint's ``vocab.txt`` (no hub access)."""
    if not Path(vocab_file).is_file():
        raise FileNotFoundError(f"vocab file {vocab_file} not found (it ships in each bert_XX.zip)")
    return BertTokenizer(vocab=str(vocab_file), do_lower_case=True)  # transformers 5: `vocab` takes the path


def encode(pairs: pd.DataFrame, tok: BertTokenizer, max_length: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    """Stacked (input_ids, attention_mask, token_type_ids) of shape (B, 3, max_length), and labels."""
    enc = tok(list(pairs["premise"]), list(pairs["hypothesis"]), padding="max_length",
              truncation=True, max_length=max_length, return_tensors="pt")
    x = torch.stack([enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]], dim=1)
    return x.long(), torch.tensor(pairs["label"].to_numpy(), dtype=torch.int64)
