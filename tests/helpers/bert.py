"""Tiny McCoy et al. checkpoint archives: a TF1 checkpoint of a random BertForSequenceClassification
in google-research/bert's variable names, zipped as bert_XX.zip (with or without bert_config.json
and vocab.txt), and a tiny stand-in for Google's BERT-base uncased release."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import torch

from helpers.tfcheckpoint import write_checkpoint

WORDS = ["a", "man", "is", "sleeping", "the", "dog", "runs", ".", "cat", "sits", "on", "mat", "woman", "reads", "book"]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
CONFIG = {"vocab_size": len(VOCAB), "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
          "intermediate_size": 16, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
          "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 128, "type_vocab_size": 2,
          "initializer_range": 0.02}
# the same network as an architecture string over BERT-base uncased (archives without bert_config.json)
ARCH = "bert-base-uncased?" + "&".join(f"{k}={CONFIG[k]}" for k in ("vocab_size", "hidden_size", "num_hidden_layers",
                                                                      "num_attention_heads", "intermediate_size", "max_position_embeddings"))


def tf_variables(model) -> dict[str, np.ndarray]:
    """The model's weights under google-research/bert variable names and layouts."""
    sd = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    tf = {"output_weights": sd["classifier.weight"], "output_bias": sd["classifier.bias"],
          "global_step": np.array(1234, dtype=np.int64)}
    for key, value in sd.items():
        if not key.startswith("bert."):
            continue
        name = key.replace(".layer.", ".layer_").replace(".", "/")
        if name.endswith("_embeddings/weight"):
            name = name.removesuffix("/weight")
        elif "LayerNorm" in name:
            name = name.replace("/weight", "/gamma").replace("/bias", "/beta")
        elif name.endswith("/weight"):
            name, value = name.replace("/weight", "/kernel"), value.T
        tf[name] = value
    return tf


def reference_model(seed: int):
    """transformers' BERT with the weights of ``write_archive(seed)`` and google-research/bert's
    tanh-approximate GELU (``gelu_new``), as a McCoy checkpoint computes."""
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    model = BertForSequenceClassification(BertConfig(**{**CONFIG, "hidden_act": "gelu_new"}, num_labels=3)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.3)
    return model


def write_archive(path: Path, seed: int, with_meta: bool = True) -> None:
    """``bert_XX.zip``: ``bert_XX/model.ckpt-1234.*`` (+ bert_config.json and vocab.txt when ``with_meta``)."""
    folder = path.with_suffix("")
    folder.mkdir(parents=True, exist_ok=True)
    write_checkpoint(folder / "model.ckpt-1234", tf_variables(reference_model(seed)))
    if with_meta:
        (folder / "bert_config.json").write_text(json.dumps(CONFIG))
        (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    with zipfile.ZipFile(path, "w") as zf:
        for f in sorted(folder.iterdir()):
            zf.write(f, f"{folder.name}/{f.name}")


def write_google_archive(path: Path) -> None:
    """A stand-in for uncased_L-12_H-768_A-12.zip: bert_config.json and vocab.txt (no weights needed)."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("uncased_L-12_H-768_A-12/bert_config.json", json.dumps(CONFIG))
        zf.writestr("uncased_L-12_H-768_A-12/vocab.txt", "\n".join(VOCAB) + "\n")
