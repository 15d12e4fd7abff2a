"""Data sources of the paper settings: ImageNet folder subset and MNLI/HANS tokenisation."""

from __future__ import annotations

import numpy as np
import pytest
import timm
import torch
from PIL import Image

from sharpgen.data.sources.imagenet import imagenet_subset, imagenet_train_subset
from sharpgen.data.sources.mnli import HANS_COLUMNS, LABELS, encode, read_hans, read_mnli, tokenizer

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "man", "is", "sleeping", "the", "dog", "runs", "."]


def test_imagenet_subset_uses_timm_eval_transform(tmp_path):
    rng = np.random.default_rng(0)
    for wnid in ("n01440764", "n01443537"):
        (tmp_path / wnid).mkdir()
        for i in range(3):
            Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(tmp_path / wnid / f"{i}.JPEG")
    model = timm.create_model("vit_base_patch16_224", pretrained=False, img_size=32, embed_dim=24, depth=1, num_heads=2)
    x, y = imagenet_train_subset(tmp_path, model, n=4)
    assert x.shape == (4, 3, 224, 224) and y.tolist() == [0, 0, 0, 1]
    assert x.dtype == torch.float32 and x.min() >= -1.0001 and x.max() <= 1.0001  # mean/std 0.5 of the cfg


def test_imagenet_missing_root_names_config_key(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"augreg\.data_root.*ImageFolder"):
        imagenet_subset("augreg", {"data_root": str(tmp_path / "nope")}, "vit_base_patch16_224", n=1)


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
    assert h["label"].tolist() == [LABELS.index("contradiction"), LABELS.index("entailment")]
    assert h.loc[0, "heuristic"] == "lexical_overlap"
    hx, _ = encode(h, tokenizer(vocab), max_length=16)
    assert hx[0, 1].sum() == 11 and hx.shape == (2, 3, 16)
