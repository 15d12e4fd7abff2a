"""Architecture strings: a timm model name with optional keyword overrides.

Grammar: ``"<timm_name>"`` or ``"<timm_name>?key=value&key=value"``; values are parsed as int,
then float, then ``true``/``false``, else kept as strings. Example of a tiny test model:
``"vit_base_patch16_224?img_size=32&embed_dim=24&depth=1&num_heads=2&num_classes=10"``.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl

import torch


def _value(text: str) -> int | float | bool | str:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def parse_arch(arch: str) -> tuple[str, dict[str, int | float | bool | str]]:
    """Split an architecture string into a timm model name and keyword overrides."""
    name, _, query = arch.partition("?")
    if not name:
        raise ValueError(f"architecture string {arch!r} has no model name before '?'")
    return name, {k: _value(v) for k, v in parse_qsl(query, strict_parsing=bool(query))}


def create_timm(arch: str, **defaults) -> torch.nn.Module:
    """Build an untrained timm model from an architecture string (``defaults`` < string overrides)."""
    import timm

    name, overrides = parse_arch(arch)
    return timm.create_model(name, pretrained=False, **{**defaults, **overrides})


# flax's ``nn.gelu`` (used by vit_jax/models_vit.py and big_vision) is the tanh approximation;
# timm's ViT default is exact GELU, which moves logits by up to ~4e-4.
FLAX_GELU = "gelu_tanh"


def load_big_vision_npz(path: Path, arch: str) -> torch.nn.Module:
    """A timm ViT for ``arch`` filled from a big_vision / vit_jax ``.npz`` checkpoint (AugReg).

    The model uses flax's GELU (tanh approximation) unless ``arch`` sets ``act_layer``.
    """
    model = create_timm(arch, act_layer=FLAX_GELU)
    try:
        model.load_pretrained(str(path))
    except (KeyError, RuntimeError) as err:
        raise ValueError(
            f"{path} does not fit ({err}) the architecture {arch!r}; check that the "
            "model sheet's arch matches the checkpoint (depth, head, resolution)."
        ) from err
    return model
