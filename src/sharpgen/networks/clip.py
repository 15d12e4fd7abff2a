"""model-soups checkpoints: OpenAI CLIP's image tower plus a linear head on normalised features.

A checkpoint ``model_{i}.pt`` is the state dict of model-soups' ``ModelWrapper``: the CLIP model
under ``model.`` (the image tower under ``model.visual.``) and ``classification_head.{weight,bias}``
(Linear 512 -> 1000) applied to L2-normalised image features.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from sharpgen.networks.timm_arch import create_timm


class SoupClassifier(nn.Module):
    """CLIP image tower -> L2 normalisation -> Linear head, as model-soups' ModelWrapper."""

    def __init__(self, visual: nn.Module, head: nn.Linear) -> None:
        super().__init__()
        self.visual = visual
        self.classification_head = head
        self.pretrained_cfg = dict(getattr(visual, "pretrained_cfg", {}))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.visual(x)
        return self.classification_head(features / features.norm(dim=-1, keepdim=True))


def drop_head_bias(visual: nn.Module) -> None:
    """Replace timm's ``head`` (Linear with bias) by CLIP's bias-free projection ``proj``.

    Otherwise the model would carry ``head.bias`` (zeros), a trainable parameter that OpenAI
    CLIP does not have and that sharpness would perturb.
    """
    head = visual.head
    visual.head = nn.Linear(head.in_features, head.out_features, bias=False)


def load_soup(path: Path, arch: str) -> SoupClassifier:
    """Load a model-soups ``model_{i}.pt`` into a timm CLIP tower (``arch``) plus the classification head.

    The trainable parameters are exactly those of OpenAI CLIP's image tower plus the head.
    """
    from timm.models.vision_transformer import checkpoint_filter_fn

    state = torch.load(path, map_location="cpu", weights_only=True)
    needed = ("model.visual.proj", "classification_head.weight", "classification_head.bias")
    missing = [k for k in needed if k not in state]
    if missing:
        raise ValueError(f"{path} is not a model-soups ModelWrapper state dict: missing keys {missing}")
    visual_sd = {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.visual.")}
    visual = create_timm(arch, num_classes=state["model.visual.proj"].shape[1])
    drop_head_bias(visual)
    converted = checkpoint_filter_fn(visual_sd, visual)
    converted.pop("head.bias")  # timm's conversion adds zeros for a bias CLIP's ``proj`` lacks
    visual.load_state_dict(converted, strict=True)
    weight = state["classification_head.weight"]
    head = nn.Linear(weight.shape[1], weight.shape[0])
    head.load_state_dict({"weight": weight, "bias": state["classification_head.bias"]})
    return SoupClassifier(visual, head)
