"""The model as a function of one flat vector of its trainable parameters.

A perturbed model is a flat vector fed to ``torch.func.functional_call``; the module itself is
never edited. Tied parameters appear once in ``named_parameters()`` and stay tied under
``functional_call``, so each is perturbed exactly once; buffers are never part of the vector.

The engine writes every perturbed point into a few persistent flat buffers (one per role: the
clean weights, the noise sample's weights, the APGD iterate), so the per-parameter views of
each buffer are made once and reused by every forward (``bound``); per sample and per
iteration the engine's own work is then a fixed number of whole-vector operations, whatever
the number of parameter tensors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.func import functional_call

BOUND_CACHE = 6
"""Buffers whose views are kept (the engine uses at most four at a time)."""


@dataclass(frozen=True)
class FlatParams:
    """Layout of a module's trainable parameters inside one flat vector."""

    names: tuple[str, ...]
    shapes: tuple[torch.Size, ...]
    w0: Tensor
    _bound: list[tuple[Tensor, dict[str, Tensor], list[Tensor] | None]] = field(default_factory=list, repr=False, compare=False)

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

    def bound(self, buffer: Tensor, grad: bool = False) -> dict[str, Tensor]:
        """Views of a persistent buffer (made once per buffer and reused; later in-place writes
        to the buffer show through them). With ``grad`` the views are leaves that require
        gradients: pass them to ``grad_of``."""
        entry = next((e for e in self._bound if e[0] is buffer), None)
        if entry is None:
            with torch.no_grad():
                views = self.views(buffer.detach())
            entry = (buffer, views, None)
            self._bound.insert(0, entry)
            del self._bound[BOUND_CACHE:]
        if grad and entry[2] is None:
            leaves = [v.requires_grad_(True) for v in entry[1].values()]
            index = self._bound.index(entry)
            entry = self._bound[index] = (buffer, entry[1], leaves)
        return entry[1]

    def grad_of(self, loss: Tensor, buffer: Tensor, out: Tensor) -> Tensor:
        """d loss / d buffer written into the persistent buffer ``out`` (one foreach copy into
        its views), for a loss computed through ``bound(buffer, grad=True)``."""
        entry = next(e for e in self._bound if e[0] is buffer)
        assert entry[2] is not None, "bound(buffer, grad=True) first"
        grads = torch.autograd.grad(loss, entry[2])
        torch._foreach_copy_(list(self.bound(out).values()), list(grads))
        return out

    def forward(self, model: nn.Module, flat: Tensor, inputs: Tensor) -> Tensor:
        """Run ``model`` with its trainable parameters replaced by ``flat``."""
        return functional_call(model, self.views(flat), (inputs,))

    def forward_bound(self, model: nn.Module, buffer: Tensor, inputs: Tensor, grad: bool = False) -> Tensor:
        """``forward`` at the current contents of a persistent buffer, through its reused views."""
        return functional_call(model, self.bound(buffer, grad), (inputs,))
