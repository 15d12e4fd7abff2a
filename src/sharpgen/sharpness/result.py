"""What one sharpness computation returns: per-batch values and their means."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from sharpgen.sharpness.definition import Definition


@dataclass(frozen=True)
class BatchResult:
    """One batch of m-sharpness. perturbed_*: mean over noise (average) or the maximiser (worst)."""

    index: int
    size: int
    clean_loss: float
    clean_error: float
    perturbed_loss: float
    perturbed_error: float
    delta_norm: float
    halvings: int
    forward_passes: int
    backward_passes: int
    seconds: float

    @property
    def sharpness_loss(self) -> float:
        return self.perturbed_loss - self.clean_loss

    @property
    def sharpness_error(self) -> float:
        return self.perturbed_error - self.clean_error


@dataclass(frozen=True)
class SharpnessResult:
    """Sharpness of one model under one definition: the plain mean over batches."""

    definition: Definition
    batches: tuple[BatchResult, ...]
    device: str
    seconds: float
    n_params: int

    def _mean(self, attr: str) -> float:
        return statistics.fmean(getattr(b, attr) for b in self.batches)

    @property
    def sharpness_loss(self) -> float:
        return self._mean("sharpness_loss")

    @property
    def sharpness_error(self) -> float:
        return self._mean("sharpness_error")

    @property
    def clean_loss(self) -> float:
        return self._mean("clean_loss")

    @property
    def clean_error(self) -> float:
        return self._mean("clean_error")

    @property
    def sharpness_loss_sem(self) -> float:
        """Standard error of the mean over batches (nan for a single batch)."""
        values = [b.sharpness_loss for b in self.batches]
        if len(values) < 2:
            return float("nan")
        return statistics.stdev(values) / len(values) ** 0.5

    def summary(self) -> dict[str, Any]:
        """Values and diagnostics as one flat record (the definition's fields excluded)."""
        return {
            "sharpness_loss": self.sharpness_loss,
            "sharpness_error": self.sharpness_error,
            "sharpness_loss_sem": self.sharpness_loss_sem,
            "clean_loss": self.clean_loss,
            "clean_error": self.clean_error,
            "delta_norm": self._mean("delta_norm"),
            "halvings": sum(b.halvings for b in self.batches),
            "forward_passes": sum(b.forward_passes for b in self.batches),
            "backward_passes": sum(b.backward_passes for b in self.batches),
            "n_batches": len(self.batches),
            "n_examples": sum(b.size for b in self.batches),
            "n_params": self.n_params,
            "seconds": self.seconds,
            "device": self.device,
        }
