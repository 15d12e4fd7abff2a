"""Data sources of the paper settings: MNLI/HANS reading and run_classifier encoding."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from sharpgen.data.sources.mnli import HANS_COLUMNS, HANS_LABELS, LABELS, encode, read_hans, read_mnli, tokenizer

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "man", "is", "sleeping", "the", "dog", "runs", "."]


def test_mnli_and_hans_to_bert_tensor(tmp_path):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(VOCAB) + "\n")
    mnli = tmp_path / "dev_matched.tsv"
    mnli.write_text("index\tpairID\tsentence1\tsentence2\tlabel1\tgold_label\n"
                    "0\t1e\tA man is sleeping.\tThe dog runs.\tneutral\tneutral\n"
                    "1\t2c\tThe dog runs.\tA \"dog\" runs.\tentailment\tentailment\n")
    hans = tmp_path / "heuristics_evaluation_set.txt"
    row = ["non-entailment", "(x)", "(y)", "(X)", "(Y)", "The dog runs .", "The man runs .", "ex0",
           "lexical_overlap", "ln_subject/object_swap", "temp1"]
    hans.write_text("\t".join(HANS_COLUMNS) + "\n" + "\t".join(row) + "\n"
                    + "\t".join(["entailment"] + row[1:]) + "\n")
    pairs = read_mnli(mnli)
    assert pairs["label"].tolist() == [LABELS.index("neutral"), LABELS.index("entailment")]
    assert pairs.loc[1, "hypothesis"] == 'A "dog" runs.'
    x, y = encode(pairs, tokenizer(vocab), max_length=12)
    assert x.shape == (2, 3, 12) and x.dtype == torch.int64
    ids = [VOCAB.index(t) for t in ["[CLS]", "a", "man", "is", "sleeping", ".", "[SEP]", "the", "dog", "runs", ".", "[SEP]"]]
    assert x[0, 0].tolist() == ids
    assert x[0, 2].tolist() == [0] * 7 + [1] * 5 and x[0, 1].tolist() == [1] * 12
    h = read_hans(hans)
    assert h["label"].tolist() == [HANS_LABELS.index("non-entailment"), HANS_LABELS.index("entailment")]
    assert h.loc[0, "heuristic"] == "lexical_overlap"
    hx, _ = encode(h, tokenizer(vocab), max_length=16)
    assert hx[0, 1].sum() == 11 and hx.shape == (2, 3, 16)


def _google_truncate(tokens_a: list[str], tokens_b: list[str], max_length: int) -> None:
    """Transcribed from google-research/bert run_classifier._truncate_seq_pair."""
    while True:
        total_length = len(tokens_a) + len(tokens_b)
        if total_length <= max_length:
            break
        if len(tokens_a) > len(tokens_b):
            tokens_a.pop()
        else:
            tokens_b.pop()


@pytest.mark.parametrize(("len_a", "len_b"), [(6, 6), (6, 7), (7, 6), (20, 20), (10, 3), (3, 10), (4, 4)])
def test_pairs_are_truncated_as_run_classifier(tmp_path, len_a, len_b):
    words = [f"w{i}" for i in range(40)]
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    a, b = words[:len_a], words[20:20 + len_b]
    pairs = pd.DataFrame({"premise": [" ".join(a)], "hypothesis": [" ".join(b)], "label": [0]})
    x, _ = encode(pairs, tokenizer(vocab), max_length=12)
    ta, tb = list(a), list(b)
    _google_truncate(ta, tb, 12 - 3)
    tokens = ["[CLS]", *ta, "[SEP]", *tb, "[SEP]"]
    ids = [5 + words.index(t) if t in words else {"[CLS]": 2, "[SEP]": 3}[t] for t in tokens]
    assert x[0, 0].tolist() == ids + [0] * (12 - len(ids))
    assert x[0, 1].tolist() == [1] * len(ids) + [0] * (12 - len(ids))
    assert x[0, 2].tolist() == [0] * (len(ta) + 2) + [1] * (len(tb) + 1) + [0] * (12 - len(ids))


def test_hans_counts_contradiction_and_neutral_as_non_entailment():
    from sharpgen.data.sources.mnli import hans_head

    head = hans_head()
    logits = torch.tensor([[3.0, 1.0, 0.0], [0.0, 1.0, 3.0], [0.0, 3.0, 1.0], [1.0, 1.2, 1.0]])  # c, e, n
    assert head.predict(logits).tolist() == [1, 1, 0, 0]  # argmax mapped: contradiction and neutral -> non-entailment
    probs = logits.softmax(dim=1)
    pooled = head.project(logits).softmax(dim=1)
    assert torch.allclose(pooled[:, 1], probs[:, 0] + probs[:, 2])
    from sharpgen.evaluate import loss_and_error

    model = torch.nn.Identity()
    loss, error = loss_and_error(model, logits, torch.tensor([1, 1, 0, 1]), torch.device("cpu"), head=head)
    assert error == 0.25  # the neutral prediction of the second example counts as non-entailment: right
    assert abs(loss - float(-(pooled[[0, 1, 2, 3], [1, 1, 0, 1]]).log().mean())) < 1e-6
