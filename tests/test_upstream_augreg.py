"""AugReg against the upstream model: a flax ViT after vit_jax/models_vit.py, its parameters
written as an AugReg ``.npz`` (helpers.flax_vit, run in its own process), loaded by the setting."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sharpgen import settings
from sharpgen.networks.timm_arch import create_timm
from sharpgen.settings.augreg import timm_arch
from sharpgen.sharpness.definition import Definition
from sharpgen.sharpness.engine import compute_sharpness
from sharpgen.sharpness.flat import FlatParams

TESTS = Path(__file__).parent
QUIET_TF = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}  # TensorFlow's C++ info logs off
ARCHS = {
    "tiny": "vit_base_patch16_224?img_size=32&embed_dim=24&depth=2&num_heads=2&num_classes=7&mlp_ratio=2",
    "b16": timm_arch("B_16", 224),
}
VIT_B16_PARAMS = 86_567_656  # ViT-B/16, 1000 classes (AugReg index.csv: params 86.6M)


@pytest.fixture(scope="module")
def upstream(tmp_path_factory) -> dict[str, Path]:
    """Per size: a folder with the flax model's model.npz and reference.npz."""
    root = tmp_path_factory.mktemp("flax_vit")
    subprocess.run([sys.executable, "-m", "helpers.flax_vit", str(root), *ARCHS], cwd=TESTS, check=True, env=QUIET_TF)
    return {size: root / size for size in ARCHS}


def _compare(folder: Path, arch: str) -> tuple[float, torch.nn.Module, dict]:
    reference = dict(np.load(folder / "reference.npz"))
    assert reference["restored_exactly"], "vit_jax's reading path does not restore the written parameters"
    model = settings.get("augreg").load_model(folder / "model.npz", arch, torch.device("cpu"))
    with torch.no_grad():
        ours = model(torch.from_numpy(reference["images"])).numpy()
    return float(np.abs(ours - reference["logits"]).max()), model, reference


@pytest.mark.parametrize("size", list(ARCHS))
def test_logits_and_parameters_match_flax_vit(upstream, size):
    diff, model, reference = _compare(upstream[size], ARCHS[size])
    print(f"augreg {size}: max |logit difference| vs flax = {diff:.2e}, {int(reference['n_params'])} parameters")
    assert diff <= 1e-5
    assert FlatParams.of(model).numel == int(reference["n_params"])
    if size == "b16":
        assert int(reference["n_params"]) == VIT_B16_PARAMS


def test_sharpness_perturbs_the_upstream_parameters(upstream):
    """n_params of a sharpness result (the sharpness table's column) = the flax model's count."""
    _, model, reference = _compare(upstream["tiny"], ARCHS["tiny"])
    x = torch.from_numpy(reference["images"])
    result = compute_sharpness(model, [(x, torch.arange(len(x)))], Definition("average", "linf", rho=1e-3, m=len(x),
                                                                           n_samples=1), device="cpu")
    assert result.n_params == int(reference["n_params"])


def test_exact_gelu_would_be_caught(upstream):
    """The check is sharp enough: timm's default (exact) GELU misses the 1e-5 bound."""
    folder = upstream["tiny"]
    reference = dict(np.load(folder / "reference.npz"))
    exact = create_timm(ARCHS["tiny"]).eval()
    exact.load_pretrained(str(folder / "model.npz"))
    with torch.no_grad():
        diff = np.abs(exact(torch.from_numpy(reference["images"])).numpy() - reference["logits"]).max()
    print(f"augreg tiny with exact GELU: max |logit difference| = {diff:.2e}")
    assert diff > 1e-5
