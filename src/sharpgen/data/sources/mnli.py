"""MNLI (GLUE TSV) and HANS readers, tokenised into the (B, 3, L) tensor of BertClassifier.

Inputs are built as google-research/bert ``run_classifier.convert_single_example`` builds them
(the code McCoy et al. fine-tuned with): WordPiece tokens of each sentence, the pair truncated by
``_truncate_seq_pair`` (one token at a time from the end of the longer sentence, the hypothesis
on ties) to ``max_length - 3``, then ``[CLS] a [SEP] b [SEP]`` with segment ids 0 / 1, zero padded.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import torch
from transformers import BertTokenizer

LABELS = ("contradiction", "entailment", "neutral")  # order of the McCoy et al. classifier
HANS_LABELS = ("entailment", "non-entailment")  # HANS labels; non-entailment = contradiction or neutral
HANS_HEURISTICS = {"lexical_overlap": "lexical", "subsequence": "subsequence", "constituent": "constituent"}
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

    Labels index ``HANS_LABELS`` (0 entailment, 1 non-entailment): the classifier's three
    outputs are scored through :func:`hans_head`, which counts contradiction and neutral
    predictions as non-entailment, as McCoy et al. (2019) evaluate.
    """
    table = _read_tsv(path, HANS_COLUMNS)
    unknown = sorted(set(table["gold_label"]) - set(HANS_LABELS))
    if unknown:
        raise ValueError(f"{path}: unknown HANS labels {unknown}")
    label = table["gold_label"].map(HANS_LABELS.index)
    return pd.DataFrame({"premise": table["sentence1"], "hypothesis": table["sentence2"],
                         "label": label.astype("int64"), "heuristic": table["heuristic"],
                         "subcase": table["subcase"], "template": table["template"]})


def tokenizer(vocab_file: Path) -> BertTokenizer:
    """An uncased WordPiece tokenizer from a checkpoint's ``vocab.txt`` (no hub access)."""
    if not Path(vocab_file).is_file():
        raise FileNotFoundError(f"vocab file {vocab_file} not found (it ships in each bert_XX.zip)")
    return BertTokenizer(vocab=str(vocab_file), do_lower_case=True)  # transformers 5: `vocab` takes the path


def hans_head():
    """HANS scoring of the three MNLI logits: entailment vs contradiction-or-neutral (their
    probabilities add up: logsumexp pooling for the loss; the argmax of the three, mapped, for
    the error)."""
    from sharpgen.datasets import Head

    to_hans = {"contradiction": 1, "entailment": 0, "neutral": 1}
    return Head(torch.tensor([to_hans[label] for label in LABELS]), "logsumexp")


def truncate_pair(tokens_a: list[str], tokens_b: list[str], max_length: int) -> None:
    """google-research/bert ``_truncate_seq_pair``: pop from the longer list (``tokens_b`` on ties)
    until the two fit in ``max_length`` tokens, in place."""
    while len(tokens_a) + len(tokens_b) > max_length:
        (tokens_a if len(tokens_a) > len(tokens_b) else tokens_b).pop()


def encode_pair(tok: BertTokenizer, premise: str, hypothesis: str, max_length: int) -> list[list[int]]:
    """input_ids, input_mask and segment_ids of one pair, as run_classifier builds them."""
    tokens_a, tokens_b = tok.tokenize(premise), tok.tokenize(hypothesis)
    truncate_pair(tokens_a, tokens_b, max_length - 3)
    ids = tok.convert_tokens_to_ids(["[CLS]", *tokens_a, "[SEP]", *tokens_b, "[SEP]"])
    pad = [0] * (max_length - len(ids))
    segments = [0] * (len(tokens_a) + 2) + [1] * (len(tokens_b) + 1)
    return [ids + pad, [1] * len(ids) + pad, segments + pad]


def encode(pairs: pd.DataFrame, tok: BertTokenizer, max_length: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    """Stacked (input_ids, attention_mask, token_type_ids) of shape (B, 3, max_length), and labels."""
    rows = [encode_pair(tok, a, b, max_length) for a, b in zip(pairs["premise"], pairs["hypothesis"], strict=True)]
    x = torch.tensor(rows, dtype=torch.int64).reshape(len(rows), 3, max_length)
    return x, torch.tensor(pairs["label"].to_numpy(), dtype=torch.int64)
