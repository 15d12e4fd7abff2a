"""Materialised data sets: named (inputs, labels) pairs stored once per setting as tensors."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from torch import Tensor

from sharpgen.atomic import save_torch


Splits = dict[str, tuple[Tensor, Tensor]]
POOLS = ("max", "logsumexp")


@dataclass(frozen=True)
class Head:
    """How a split's labels relate to the model's logits, for test sets with other classes.

    ``classes[j]`` is the split's class of the model's logit j (-1: not scored). The logits of
    one class are pooled by ``max`` (ObjectNet's projection; a 200-class subset has one logit per
    class) or ``logsumexp`` (probabilities add up: HANS non-entailment = contradiction or
    neutral). The prediction is the class of the largest scored logit, as the upstream
    evaluation code maps predictions.
    """

    classes: Tensor
    pool: str = "max"

    def __post_init__(self) -> None:
        if self.pool not in POOLS:
            raise ValueError(f"head pool must be one of {POOLS}, got {self.pool!r}")

    def _check(self, logits: Tensor) -> None:
        if logits.shape[1] != len(self.classes):
            raise ValueError(f"the model has {logits.shape[1]} outputs but the split's head maps {len(self.classes)}")

    def project(self, logits: Tensor) -> Tensor:
        """Pooled logits (B, K) of the split's K classes."""
        self._check(logits)
        classes = self.classes.to(logits.device)
        pool = torch.amax if self.pool == "max" else torch.logsumexp
        return torch.stack([pool(logits[:, classes == k], dim=1) for k in range(int(classes.max()) + 1)], dim=1)

    def predict(self, logits: Tensor) -> Tensor:
        """The split's class of the largest scored logit."""
        self._check(logits)
        classes = self.classes.to(logits.device)
        scored = torch.nonzero(classes >= 0).squeeze(1)
        return classes[scored[logits[:, scored].argmax(dim=1)]]


def first_n(splits: Splits, n: int, source: str = "train") -> tuple[Tensor, Tensor, pd.DataFrame]:
    """The first n examples of a split, in order, and their subset table (source: the split)."""
    x, y = splits[source]
    if len(x) < n:
        raise ValueError(f"sharpness.n = {n} but the {source} split has only {len(x)} examples; lower sharpness.n")
    table = pd.DataFrame({"position": range(n), "label": y[:n].numpy(), "source": source, "index": range(n)})
    return x[:n].contiguous(), y[:n].contiguous(), table


def save(splits: Splits, path: str | Path) -> None:
    """Store ``splits`` at ``path`` (identical splits give identical bytes)."""
    save_torch({name: {"x": x, "y": y} for name, (x, y) in splits.items()}, path)


def load(path: str | Path) -> Splits:
    """Every split stored at ``path``; a clear error names a missing or broken file."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True, mmap=True)  # pages in on use: ImageNet sets are large
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: data set missing; rerun the workflow to rebuild it") from None
    except Exception as error:
        raise ValueError(f"{path}: unreadable data set ({type(error).__name__}); delete it and rerun") from None
    return {name: (pair["x"], pair["y"]) for name, pair in payload.items()}
