"""Per-example loss and error on (optionally normalised) model outputs."""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor
from torch.nn import functional as F

LossFn = Callable[[Tensor, Tensor], Tensor]
"""Maps (outputs, labels) to a vector of per-example values."""

LOGIT_NORM_FLOOR = 1e-10


def normalize_logits(logits: Tensor) -> Tensor:
    """Centre each example's logits and divide by their l2 norm (floored at 1e-10).

    This is the authors' code's convention. The slides divide by the standard deviation
    instead, which is larger by the constant factor sqrt(K) for K classes.
    """
    centred = logits - logits.mean(dim=-1, keepdim=True)
    return centred / centred.norm(dim=-1, keepdim=True).clamp_min(LOGIT_NORM_FLOOR)


def cross_entropy(outputs: Tensor, labels: Tensor) -> Tensor:
    """Per-example cross-entropy."""
    return F.cross_entropy(outputs, labels, reduction="none")


def zero_one(outputs: Tensor, labels: Tensor) -> Tensor:
    """Per-example 0-1 error of the argmax prediction."""
    return (outputs.argmax(dim=-1) != labels).to(torch.float32)
