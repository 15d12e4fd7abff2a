"""Export a timm VisionTransformer to the original ViT/AugReg ``.npz`` layout (inverse of timm's loader)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from timm.models.vision_transformer import VisionTransformer


def _np(t) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float32)


def vit_to_npz(model: VisionTransformer, path: Path) -> None:
    """Write ``model`` with the key names and kernel layouts of the AugReg checkpoints."""
    d = model.embed_dim
    heads = model.blocks[0].attn.num_heads
    w: dict[str, np.ndarray] = {
        "embedding/kernel": _np(model.patch_embed.proj.weight).transpose(2, 3, 1, 0),  # OIHW -> HWIO
        "embedding/bias": _np(model.patch_embed.proj.bias),
        "cls": _np(model.cls_token),
        "Transformer/posembed_input/pos_embedding": _np(model.pos_embed),
        "Transformer/encoder_norm/scale": _np(model.norm.weight),
        "Transformer/encoder_norm/bias": _np(model.norm.bias),
        "head/kernel": _np(model.head.weight).T,
        "head/bias": _np(model.head.bias),
    }
    for i, block in enumerate(model.blocks):
        p = f"Transformer/encoderblock_{i}/"
        mha = p + "MultiHeadDotProductAttention_1/"
        qkv_w = _np(block.attn.qkv.weight).reshape(3, d, d)
        qkv_b = _np(block.attn.qkv.bias).reshape(3, heads, d // heads)
        for j, name in enumerate(("query", "key", "value")):
            w[f"{mha}{name}/kernel"] = qkv_w[j].T.reshape(d, heads, d // heads)
            w[f"{mha}{name}/bias"] = qkv_b[j]
        w[f"{mha}out/kernel"] = _np(block.attn.proj.weight).reshape(d, heads, d // heads).transpose(1, 2, 0)
        w[f"{mha}out/bias"] = _np(block.attn.proj.bias)
        w[f"{p}LayerNorm_0/scale"], w[f"{p}LayerNorm_0/bias"] = _np(block.norm1.weight), _np(block.norm1.bias)
        w[f"{p}LayerNorm_2/scale"], w[f"{p}LayerNorm_2/bias"] = _np(block.norm2.weight), _np(block.norm2.bias)
        for r, fc in enumerate((block.mlp.fc1, block.mlp.fc2)):
            w[f"{p}MlpBlock_3/Dense_{r}/kernel"] = _np(fc.weight).T
            w[f"{p}MlpBlock_3/Dense_{r}/bias"] = _np(fc.bias)
    np.savez(path, **w)
