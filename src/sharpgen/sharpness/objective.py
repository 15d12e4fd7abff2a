"""Batch loss at a point in weight space: counted, checked for NaN/inf, one forward each.

``value`` and ``value_and_grad`` return Python floats (one device sync each); ``values``
evaluates one point or a stack of points (through ``torch.func.vmap``) and returns the
(loss, error) pairs as a tensor on the device, so that a caller can collect many before it
syncs once and checks them with ``check_values``. A single point is a persistent flat buffer
of the caller (``FlatParams.bound``): its parameter views are made once and reused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.func import vmap

from sharpgen.sharpness.flat import FlatParams
from sharpgen.sharpness.losses import LossFn, normalize_logits


class SharpnessError(RuntimeError):
    """A sharpness computation that cannot give a number (e.g. a NaN or inf loss)."""


@dataclass
class BatchObjective:
    """L_S(w) and its 0-1 error on one fixed batch S, with pass counters."""

    model: nn.Module
    flat: FlatParams
    inputs: Tensor
    labels: Tensor
    loss_fn: LossFn
    error_fn: LossFn
    logit_norm: bool
    where: str  # "definition X, batch i" for error messages
    forwards: int = field(default=0)
    backwards: int = field(default=0)

    def _outputs(self, w: Tensor, grad: bool = False) -> Tensor:
        out = self.flat.forward_bound(self.model, w, self.inputs, grad)
        return self._normalized(out)

    def _normalized(self, out: Tensor) -> Tensor:
        return normalize_logits(out) if self.logit_norm else out

    def _loss_error(self, out: Tensor) -> Tensor:
        loss = self.loss_fn(out, self.labels).mean()
        return torch.stack([loss, self.error_fn(out, self.labels).mean().to(loss.dtype)])

    def _pair(self, w: Tensor) -> Tensor:
        """[loss, error] at the buffer w as one tensor (no sync)."""
        return self._loss_error(self._outputs(w))

    def _pair_row(self, w: Tensor) -> Tensor:
        """``_pair`` of one row of a stack under vmap (fresh views: the row is a batched tensor)."""
        return self._loss_error(self._normalized(self.flat.forward(self.model, w, self.inputs)))

    def _check(self, loss: float, iteration: str) -> None:
        if not math.isfinite(loss):
            raise SharpnessError(
                f"non-finite loss ({loss}) at {self.where}, {iteration}; "
                "check the checkpoint and the data subset, or use a smaller rho"
            )

    def value(self, w: Tensor, iteration: str) -> tuple[float, float]:
        """(loss, error) at w, without gradients."""
        with torch.no_grad():
            loss, err = self._pair(w).tolist()
        self.forwards += 1
        self._check(loss, iteration)
        return loss, err

    def values(self, w: Tensor) -> Tensor:
        """[loss, error] at one point (shape (N,) -> (2,)) or at each row of a stack of points
        (shape (k, N) -> (k, 2), evaluated together under ``torch.func.vmap``); no gradients,
        no sync, no check: pass the collected values to ``check_values``."""
        with torch.no_grad():
            if w.dim() == 1:
                pairs = self._pair(w)
            else:
                pairs = vmap(self._pair_row, randomness="error")(w)
        self.forwards += 1 if w.dim() == 1 else w.shape[0]
        return pairs

    def check_values(self, pairs: list[tuple[float, float]], label: str, first: int = 0) -> None:
        """Raise on the first non-finite loss, naming it as ``f"{label} {first + index}"``."""
        for index, (loss, _) in enumerate(pairs):
            self._check(loss, f"{label} {first + index}")

    def value_and_grad(self, w: Tensor, iteration: str, out: Tensor) -> tuple[float, float, Tensor]:
        """(loss, error, dL/dw) at the buffer w from one forward and one backward pass; the
        gradient is written into the buffer ``out`` (and returned)."""
        with torch.enable_grad():
            outputs = self._outputs(w, grad=True)
            loss = self.loss_fn(outputs, self.labels).mean()
            grad = self.flat.grad_of(loss, w, out)
        err = self.error_fn(outputs.detach(), self.labels).mean()
        loss_value, err_value = torch.stack([loss.detach(), err.to(loss.dtype)]).tolist()
        self.forwards += 1
        self.backwards += 1
        self._check(loss_value, iteration)
        return loss_value, err_value, grad
