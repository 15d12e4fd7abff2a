"""Model soups: sheet from the shipped metadata, and a CLIP-layout ModelWrapper checkpoint over HTTP."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from sharpgen.download import download
from helpers.clip import CLASSES, EMBED, HEADS, IMG, PATCH, TINY, WIDTH, clip_state
from sharpgen import settings

def test_manifest_has_72_models_with_hparams_and_results():
    sheet = settings.get("soups").sheet({})
    assert list(sheet["model_id"]) == [f"model_{i}" for i in range(72)]
    assert sheet.loc[0, "url"] == "https://github.com/mlfoundations/model-soups/releases/download/v0.0.2/model_0.pt"
    assert sheet.loc[0, "is_init"] and math.isnan(sheet.loc[0, "lr"])
    assert not sheet.loc[1:, "is_init"].any()
    assert sheet.loc[1:, "lr"].between(1e-6, 1e-4).all() and sheet.loc[1:, "epochs"].between(4, 16).all()
    assert abs(sheet.loc[0, "imagenet_acc"] - 0.75574) < 1e-9
    for col in ("imagenetv2_acc", "imagenet_sketch_acc", "imagenet_r_acc", "objectnet_acc", "imagenet_a_acc"):
        assert sheet[col].between(0, 1).all()


def _reference_forward(sd: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """OpenAI CLIP VisionTransformer + model-soups head, written from the raw tensors."""
    v, b = "model.visual.", "model.visual.transformer.resblocks.0."
    ln = lambda t, p: F.layer_norm(t, (WIDTH,), sd[p + ".weight"], sd[p + ".bias"], eps=1e-5)  # noqa: E731
    h = F.conv2d(x, sd[v + "conv1.weight"], stride=PATCH).flatten(2).transpose(1, 2)
    cls = sd[v + "class_embedding"].expand(x.shape[0], 1, WIDTH)
    h = torch.cat([cls, h], 1) + sd[v + "positional_embedding"]
    h = ln(h, v + "ln_pre")
    y = ln(h, b + "ln_1")
    q, k, val = F.linear(y, sd[b + "attn.in_proj_weight"], sd[b + "attn.in_proj_bias"]).chunk(3, -1)
    split = lambda t: t.unflatten(-1, (HEADS, WIDTH // HEADS)).transpose(1, 2)  # noqa: E731
    att = torch.softmax(split(q) @ split(k).transpose(-1, -2) / math.sqrt(WIDTH // HEADS), -1)
    y = (att @ split(val)).transpose(1, 2).flatten(2)
    h = h + F.linear(y, sd[b + "attn.out_proj.weight"], sd[b + "attn.out_proj.bias"])
    y = F.linear(ln(h, b + "ln_2"), sd[b + "mlp.c_fc.weight"], sd[b + "mlp.c_fc.bias"])
    y = y * torch.sigmoid(1.702 * y)  # QuickGELU
    h = h + F.linear(y, sd[b + "mlp.c_proj.weight"], sd[b + "mlp.c_proj.bias"])
    feats = ln(h[:, 0], v + "ln_post") @ sd[v + "proj"]
    feats = feats / feats.norm(dim=-1, keepdim=True)
    return F.linear(feats, sd["classification_head.weight"], sd["classification_head.bias"])


def test_modelwrapper_checkpoint_roundtrip_over_http(http_server, tmp_path):
    sd = clip_state(torch.Generator().manual_seed(0))
    torch.save(sd, http_server.root / "model_3.pt")
    path = download(http_server.url("model_3.pt"), tmp_path / "model_3.pt")
    model = settings.get("soups").load_model(path, TINY, torch.device("cpu"))
    assert not model.training
    x = torch.randn(2, 3, IMG, IMG, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        logits = model(x)
    assert logits.shape == (2, CLASSES)
    torch.testing.assert_close(logits, _reference_forward(sd, x), rtol=1e-4, atol=1e-5)


def test_non_soup_checkpoint_is_rejected_with_key_names(tmp_path):
    torch.save({"weight": torch.zeros(1)}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="bad.pt.*classification_head.weight"):
        settings.get("soups").load_model(tmp_path / "bad.pt", TINY, torch.device("cpu"))
