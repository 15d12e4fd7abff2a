"""BERT against the upstream model: a TensorFlow BertModel + classifier after google-research/bert
(helpers.tf_bert, run in its own process), saved by TensorFlow's Saver, loaded by the setting."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sharpgen import settings
from sharpgen.networks.bert import BertClassifier
from sharpgen.sharpness.definition import Definition
from sharpgen.sharpness.engine import compute_sharpness
from sharpgen.sharpness.flat import FlatParams

TESTS = Path(__file__).parent
QUIET_TF = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}  # TensorFlow's C++ info logs off
SIZES = ("tiny", "base")
BERT_BASE_MNLI_PARAMS = 109_484_547  # BERT-base uncased (109,482,240) + output_weights/bias (768 x 3 + 3)


@pytest.fixture(scope="module")
def upstream(tmp_path_factory) -> dict[str, Path]:
    """Per size: a folder with the TensorFlow checkpoint, bert_config.json and reference.npz."""
    root = tmp_path_factory.mktemp("tf_bert")
    subprocess.run([sys.executable, "-m", "helpers.tf_bert", str(root), *SIZES], cwd=TESTS, check=True, env=QUIET_TF)
    return {size: root / size for size in SIZES}


def _inputs(reference: dict) -> torch.Tensor:
    ids, mask, types = (torch.from_numpy(reference[k]).long() for k in ("input_ids", "input_mask", "segment_ids"))
    return torch.stack([ids, mask, types], 1)


def _load(folder: Path) -> tuple[BertClassifier, dict]:
    return settings.get("bert").load_model(folder, "bert-base-uncased", torch.device("cpu")), dict(
        np.load(folder / "reference.npz"))


@pytest.mark.parametrize("size", SIZES)
def test_logits_and_parameters_match_tensorflow_bert(upstream, size):
    model, reference = _load(upstream[size])
    with torch.no_grad():
        diff = float(np.abs(model(_inputs(reference)).numpy() - reference["logits"]).max())
    print(f"bert {size}: max |logit difference| vs TensorFlow = {diff:.2e}, {int(reference['n_params'])} parameters")
    assert diff <= 1e-5
    assert FlatParams.of(model).numel == int(reference["n_params"])
    if size == "base":
        assert int(reference["n_params"]) == BERT_BASE_MNLI_PARAMS


def test_sharpness_perturbs_the_upstream_parameters(upstream):
    """n_params of a sharpness result (the sharpness table's column) = TensorFlow's trainable count."""
    model, reference = _load(upstream["tiny"])
    x = _inputs(reference)
    result = compute_sharpness(model, [(x, torch.arange(len(x)) % 3)],
                               Definition("average", "linf", rho=1e-3, m=len(x), n_samples=1), device="cpu")
    assert result.n_params == int(reference["n_params"])


def test_exact_gelu_would_be_caught(upstream, tmp_path):
    """The check is sharp enough: transformers' reading of "gelu" (exact) misses the 1e-5 bound."""
    from transformers import BertConfig, BertForSequenceClassification

    model, reference = _load(upstream["tiny"])
    config = json.loads((upstream["tiny"] / "bert_config.json").read_text())
    exact = BertForSequenceClassification(BertConfig(**config, num_labels=3)).eval()
    exact.load_state_dict(model.bert.state_dict())
    x = _inputs(reference)
    with torch.no_grad():
        diff = np.abs(BertClassifier(exact)(x).numpy() - reference["logits"]).max()
    print(f"bert tiny with exact GELU: max |logit difference| = {diff:.2e}")
    assert diff > 1e-5
