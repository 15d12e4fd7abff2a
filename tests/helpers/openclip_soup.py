"""An independent model-soups classifier: OpenAI CLIP's architecture built by open_clip, wrapped
as model-soups' ``ModelWrapper`` (utils.py: text transformer removed, L2-normalised image
features, Linear head), saved as its ``state_dict`` like model-soups' finetune.py does."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

# a one-block CLIP whose image tower is helpers.clip.TINY
TINY_VISION = dict(layers=1, width=16, head_width=8, patch_size=16, image_size=32)
TINY_TEXT = dict(context_length=8, vocab_size=10, width=16, heads=2, layers=1)


class ModelWrapper(nn.Module):
    """model-soups' ModelWrapper with ``normalize=True`` (how its checkpoints are evaluated)."""

    def __init__(self, model: nn.Module, feature_dim: int, num_classes: int) -> None:
        super().__init__()
        self.model = model
        self.classification_head = nn.Linear(feature_dim, num_classes)
        if hasattr(self.model, "transformer"):  # "Get rid of the language part."
            delattr(self.model, "transformer")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.model.encode_image(images)
        features = features / features.norm(dim=-1, keepdim=True)
        return self.classification_head(features)


def clip_model(size: str) -> nn.Module:
    """OpenAI CLIP with QuickGELU: tiny, or ViT-B/32 as open_clip's 'ViT-B-32-quickgelu'."""
    import open_clip
    from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

    if size == "b32":
        return open_clip.create_model("ViT-B-32-quickgelu", pretrained=None)
    return CLIP(embed_dim=8, vision_cfg=CLIPVisionCfg(**TINY_VISION), text_cfg=CLIPTextCfg(**TINY_TEXT),
                quick_gelu=True)


def soup(size: str, num_classes: int, seed: int) -> ModelWrapper:
    """A ModelWrapper in eval mode with every parameter random (LayerNorm and biases included)."""
    torch.manual_seed(seed)
    model = clip_model(size)
    wrapper = ModelWrapper(model, model.visual.output_dim, num_classes).eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in wrapper.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.02)
    return wrapper


def save(wrapper: ModelWrapper, path: Path) -> None:
    """finetune.py: ``torch.save(model.module.state_dict(), model_path)``."""
    torch.save(wrapper.state_dict(), path)
