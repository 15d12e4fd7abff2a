"""The model as a function of one flat vector of its trainable parameters.

A perturbed model is ``w0 + delta`` fed to ``torch.func.functional_call``; the module itself
is never edited. Tied parameters appear once in ``named_parameters()`` and stay tied under
``functional_call``, so each is perturbed exactly once; buffers are never part of the vector.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.func import functional_call


@dataclass(frozen=True)
class FlatParams:
    """Layout of a module's trainable parameters inside one flat vector."""

    names: tuple[str, ...]
    shapes: tuple[torch.Size, ...]
    w0: Tensor

    @classmethod
    def of(cls, model: nn.Module) -> FlatParams:
        """Snapshot the trainable parameters (a detached copy; the module is not touched)."""
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        if not named:
            raise ValueError("sharpness: the model has no trainable parameters to perturb")
        dtypes = {p.dtype for _, p in named}
        if len(dtypes) != 1 or not next(iter(dtypes)).is_floating_point:
            raise ValueError(
                f"sharpness: all trainable parameters must share one floating dtype, got {sorted(map(str, dtypes))}"
            )
        with torch.no_grad():
            w0 = torch.cat([p.detach().reshape(-1) for _, p in named])
        return cls(tuple(n for n, _ in named), tuple(p.shape for _, p in named), w0)

    @property
    def numel(self) -> int:
        return self.w0.numel()

    def views(self, flat: Tensor) -> dict[str, Tensor]:
        """Split a flat vector into named views shaped like the parameters (no copies).

        ``torch.split`` rather than one slice per parameter: its backward is a single
        concatenation, where separate slices would each scatter into a full-size zero vector.
        """
        pieces = torch.split(flat, [shape.numel() for shape in self.shapes])
        return {name: piece.view(shape) for name, piece, shape in zip(self.names, pieces, self.shapes)}

    def forward(self, model: nn.Module, flat: Tensor, inputs: Tensor) -> Tensor:
        """Run ``model`` with its trainable parameters replaced by ``flat``."""
        return functional_call(model, self.views(flat), (inputs,))
