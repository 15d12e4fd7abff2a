"""Model soups against the upstream model: OpenAI CLIP's architecture from open_clip in model-soups'
ModelWrapper (helpers.openclip_soup), its state dict loaded by the setting."""

from __future__ import annotations

import pytest
import torch
from timm.models.vision_transformer import checkpoint_filter_fn

from helpers.clip import IMG, TINY
from helpers.openclip_soup import save, soup
from sharpgen import settings
from sharpgen.settings.soups import ARCH
from sharpgen.sharpness.definition import Definition
from sharpgen.sharpness.engine import compute_sharpness
from sharpgen.sharpness.flat import FlatParams

CASES = {"tiny": (TINY, IMG, 5), "b32": (ARCH, 224, 1000)}
CLIP_B32_SOUP_PARAMS = 88_362_216  # CLIP ViT-B/32 image tower (87,849,216) + Linear(512 -> 1000)


@pytest.fixture(scope="module")
def soups(tmp_path_factory):
    """Per size: (upstream ModelWrapper, our model loaded from its saved state dict, images)."""
    root = tmp_path_factory.mktemp("soups")
    out = {}
    for size, (arch, img, classes) in CASES.items():
        upstream = soup(size, classes, seed=0)
        save(upstream, root / f"{size}.pt")
        ours = settings.get("soups").load_model(root / f"{size}.pt", arch, torch.device("cpu"))
        images = torch.rand(2, 3, img, img, generator=torch.Generator().manual_seed(1)) * 4 - 2
        out[size] = (upstream, ours, images)
    return out


@pytest.mark.parametrize("size", list(CASES))
def test_logits_match_open_clip_model_wrapper(soups, size):
    upstream, ours, images = soups[size]
    with torch.no_grad():
        diff = (ours(images) - upstream(images)).abs().max().item()
    n = sum(p.numel() for p in upstream.model.visual.parameters()) + sum(
        p.numel() for p in upstream.classification_head.parameters())
    print(f"soups {size}: max |logit difference| vs open_clip = {diff:.2e}, {n} parameters")
    assert diff <= 1e-5


@pytest.mark.parametrize("size", list(CASES))
def test_trainable_parameters_are_clip_visual_and_head(soups, size):
    """Same names (through timm's renaming of CLIP's keys) and shapes; no extra head bias."""
    upstream, ours, _ = soups[size]
    visual = {f"visual.{k}": v for k, v in upstream.model.visual.state_dict().items()}
    renamed = checkpoint_filter_fn(visual, ours.visual)
    assert renamed.pop("head.bias").count_nonzero() == 0  # what timm's renaming invents
    expected = {f"visual.{k}": tuple(v.shape) for k, v in renamed.items()}
    expected |= {f"classification_head.{k}": tuple(v.shape) for k, v in upstream.classification_head.state_dict().items()}
    assert {n: tuple(p.shape) for n, p in ours.named_parameters() if p.requires_grad} == expected
    n_upstream = sum(p.numel() for p in upstream.model.visual.parameters()) + sum(
        p.numel() for p in upstream.classification_head.parameters())
    assert FlatParams.of(ours).numel == n_upstream
    if size == "b32":
        assert n_upstream == CLIP_B32_SOUP_PARAMS


def test_sharpness_perturbs_the_upstream_parameters(soups):
    """n_params of a sharpness result (the sharpness table's column) = the upstream count."""
    upstream, ours, images = soups["tiny"]
    result = compute_sharpness(ours, [(images, torch.arange(len(images)))],
                               Definition("average", "linf", rho=1e-3, adaptive=False, m=len(images), n_samples=1),
                               device="cpu")
    assert result.n_params == sum(p.numel() for p in upstream.model.visual.parameters()) + sum(
        p.numel() for p in upstream.classification_head.parameters())
