"""TF1 google-research/bert MNLI checkpoints as a transformers ``BertForSequenceClassification``.

The checkpoint is read without TensorFlow (:mod:`sharpgen.networks.tfbundle`). Output label
order of the classifier, from google-research/bert ``MnliProcessor.get_labels``:
contradiction, entailment, neutral.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from sharpgen.networks import tfbundle

LABELS = ("contradiction", "entailment", "neutral")
# google-research/bert modeling.py's ``gelu`` is the tanh approximation; transformers reads
# "gelu" as exact GELU (logits off by ~2e-4), so the name is translated on loading.
GOOGLE_ACTIVATIONS = {"gelu": "gelu_pytorch_tanh"}
# bert_config.json of Google's BERT-base uncased release (uncased_L-12_H-768_A-12.zip), which
# McCoy et al. fine-tuned: used for a checkpoint archive that holds only the checkpoint, with the
# overrides of the architecture string ("bert-base-uncased?hidden_size=8&...", tests)
BERT_BASE_UNCASED = {
    "attention_probs_dropout_prob": 0.1, "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": 768,
    "initializer_range": 0.02, "intermediate_size": 3072, "max_position_embeddings": 512, "num_attention_heads": 12,
    "num_hidden_layers": 12, "type_vocab_size": 2, "vocab_size": 30522,
}


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


def checkpoint_dir(path: Path) -> Path:
    """The directory of a McCoy et al. checkpoint: the .zip extracted once, or the directory itself."""
    path = Path(path)
    return unpack(path) if path.suffix == ".zip" else path


class BertClassifier(nn.Module):
    """One-tensor wrapper: input LongTensor (B, 3, L) = (input_ids, attention_mask, token_type_ids)."""

    def __init__(self, bert: nn.Module) -> None:
        super().__init__()
        self.bert = bert

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, 3) in label order contradiction, entailment, neutral."""
        if x.ndim != 3 or x.shape[1] != 3:
            raise ValueError(f"BertClassifier expects a (B, 3, L) LongTensor, got shape {tuple(x.shape)}")
        return self.bert(input_ids=x[:, 0], attention_mask=x[:, 1], token_type_ids=x[:, 2]).logits


def load_bert(path: Path, arch: str = "bert-base-uncased") -> BertClassifier:
    """Load a McCoy et al. checkpoint (the .zip or its extracted directory) into a BertClassifier;
    without a bert_config.json in it, BERT-base uncased's (with ``arch``'s overrides)."""
    from transformers import BertConfig, BertForSequenceClassification

    from sharpgen.networks.timm_arch import parse_arch

    directory = checkpoint_dir(path)
    found = sorted(directory.rglob("bert_config.json"))
    config_path = found[0] if len(found) == 1 else f"{arch!r} ({directory} has no bert_config.json)"
    values = json.loads(found[0].read_text()) if len(found) == 1 else {**BERT_BASE_UNCASED, **parse_arch(arch)[1]}
    act = values.get("hidden_act", "gelu")  # modeling.py's BertConfig default
    values["hidden_act"] = GOOGLE_ACTIVATIONS.get(act, act)
    config = BertConfig(**values, num_labels=len(LABELS),
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
    return BertClassifier(model)
