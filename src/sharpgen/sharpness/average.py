"""Average-case sharpness: E_delta[L_S(w0 + delta)] - L_S(w0), estimated by Monte Carlo.

l2: delta ~ N(0, rho^2 diag(c^2)) (i.i.d. Gaussian with std rho * c per coordinate, not on a
sphere); linf: delta ~ Uniform[-rho * c, rho * c]. Antithetic sampling draws (+delta, -delta)
pairs: the first-order term cancels within each pair, which removes most of the variance at
small rho while the estimator stays unbiased.

Samples are evaluated one at a time (``batch_samples=1``) or ``k`` at a time through
``torch.func.vmap`` over a stack of k perturbed parameter vectors. Either way the noise vectors
are drawn one by one, in sample order, from the same generator, so the same seed gives the same
draws whatever k is; the values agree to float rounding. ``batch_samples="auto"`` is the loop:
measured faster on CPU and on an H200 for the CIFAR ResNet-18 (and equal on a ViT-B/16); a
sharpness job passes the chunk its architecture's calibration measured to be faster instead.
"""

from __future__ import annotations

import torch
from torch import Tensor

from sharpgen.sharpness.definition import Definition
from sharpgen.sharpness.objective import BatchObjective

BatchSamples = int | str
AUTO_MEMORY_FRACTION = 0.6
"""Share of the free CUDA memory that auto-chosen chunks may plan to use."""
PARAM_COPIES_PER_SAMPLE = 3
"""Per batched sample: its noise row, its perturbed weights, and a reshaped weight copy that
batching rules (e.g. grouped convolutions) may make."""


def validate_batch_samples(batch_samples: BatchSamples) -> None:
    if batch_samples == "auto":
        return
    if not (isinstance(batch_samples, int) and not isinstance(batch_samples, bool) and batch_samples >= 1):
        raise ValueError(f"sharpness: batch_samples must be 'auto' or an integer >= 1, got {batch_samples!r}")


def vmap_chunk(
    n_params: int, itemsize: int, n_samples: int, device: torch.device, activation_bytes: int | None = None
) -> int:
    """The most samples per vmap chunk that fit: all ``n_samples`` on CPU; on CUDA as many as fit
    in ``AUTO_MEMORY_FRACTION`` of the free memory, at ``PARAM_COPIES_PER_SAMPLE`` parameter
    vectors plus one forward's activations per sample. The calibration times this chunk
    against the loop and records the faster (``batch_samples``)."""
    if device.type != "cuda":
        return n_samples
    free, _ = torch.cuda.mem_get_info(device)
    per_sample = PARAM_COPIES_PER_SAMPLE * n_params * itemsize + (activation_bytes or 0)
    return max(1, min(n_samples, int(AUTO_MEMORY_FRACTION * free // max(per_sample, 1))))


def average_case(
    objective: BatchObjective,
    w0: Tensor,
    c: Tensor | None,
    definition: Definition,
    generator: torch.Generator,
    batch_samples: BatchSamples = 1,
) -> dict[str, float]:
    """Mean perturbed loss and error over ``definition.n_samples`` draws on one batch."""
    clean_loss, clean_err = objective.value(w0, "clean point")
    if batch_samples == "auto":  # without a calibration's measured choice: the loop
        batch_samples = 1
    assert isinstance(batch_samples, int)
    sampler = _Sampler(w0, c, definition, generator)
    n = definition.n_samples
    chunk = min(batch_samples, n)
    if definition.antithetic and chunk > 1:
        chunk -= chunk % 2  # pairs never straddle two chunks
    pairs: list[Tensor] = []
    norms: list[Tensor] = []
    if chunk == 1:
        for k in range(n):
            w, norm = sampler.one(k)
            pairs.append(objective.values(w))
            norms.append(norm)
    else:
        for first in range(0, n, chunk):
            rows, w, norm = sampler.rows(first, min(chunk, n - first))
            pairs.append(_evaluate_rows(objective, w))
            norms.append(norm)
    values = torch.cat([p.reshape(-1, 2) for p in pairs]).tolist()  # the batch's only sync
    objective.check_values(values, "noise sample")
    total_norm = float(torch.cat([v.reshape(-1) for v in norms]).sum())
    return {
        "clean_loss": clean_loss,
        "clean_error": clean_err,
        "perturbed_loss": sum(loss for loss, _ in values) / n,
        "perturbed_error": sum(err for _, err in values) / n,
        "delta_norm": definition.rho * total_norm / n,
        "halvings": 0,
    }


class _Sampler:
    """Noise draws in sample order from one generator, and the perturbed weights they give.

    Coordinates with c == 0 (adaptive sharpness at a weight that is exactly zero) are not
    perturbed; their noise is zeroed after each draw (the draw itself is unchanged, so the
    generator's stream is too), which makes the diagnostic norm a plain norm of the vector.
    """

    def __init__(self, w0: Tensor, c: Tensor | None, definition: Definition, generator: torch.Generator) -> None:
        self.w0, self.c, self.generator = w0, c, generator
        self.rho = definition.rho
        self.l2 = definition.norm == "l2"
        self.antithetic = definition.antithetic
        inactive = None if c is None else (c == 0).nonzero().reshape(-1)
        self.inactive = None if inactive is None or inactive.numel() == 0 else inactive
        self.noise = torch.empty_like(w0)
        self.w = torch.empty_like(w0)
        self.norm = None

    def _draw(self, out: Tensor) -> Tensor:
        if self.l2:
            out.normal_(generator=self.generator)
        else:
            out.uniform_(-1.0, 1.0, generator=self.generator)
        if self.inactive is not None:
            out.index_fill_(0, self.inactive, 0.0)
        return torch.linalg.vector_norm(out, ord=2 if self.l2 else float("inf"))

    def _perturb(self, noise: Tensor, value: float, out: Tensor) -> Tensor:
        if self.c is None:
            return torch.add(self.w0, noise, alpha=value, out=out)
        return torch.addcmul(self.w0, self.c, noise, value=value, out=out)

    def one(self, k: int) -> tuple[Tensor, Tensor]:
        """Sample k (in order): its perturbed weights (a reused buffer) and its noise norm."""
        sign = -1.0 if self.antithetic and k % 2 else 1.0
        if sign > 0:
            self.norm = self._draw(self.noise)
        assert self.norm is not None
        return self._perturb(self.noise, sign * self.rho, self.w), self.norm

    def rows(self, first: int, count: int) -> tuple[Tensor, Tensor, Tensor]:
        """Samples first .. first + count - 1 stacked: noise rows, perturbed weights, norms."""
        rows = torch.empty((count, self.w0.numel()), dtype=self.w0.dtype, device=self.w0.device)
        norms = torch.empty(count, dtype=self.w0.dtype, device=self.w0.device)
        for j in range(count):
            if self.antithetic and (first + j) % 2:
                torch.neg(rows[j - 1], out=rows[j])  # exact: the same weights as w0 - rho c noise
                norms[j] = norms[j - 1]
            else:
                norms[j] = self._draw(rows[j])
        return rows, self._perturb(rows, self.rho, torch.empty_like(rows)), norms


def _evaluate_rows(objective: BatchObjective, w: Tensor) -> Tensor:
    """[loss, error] for each row of w, under vmap; on CUDA out-of-memory in halves (same
    values, the draws are already made)."""
    try:
        return objective.values(w)
    except torch.OutOfMemoryError:
        if len(w) == 1:
            raise
    half = len(w) // 2
    return torch.cat([_evaluate_rows(objective, w[:half]), _evaluate_rows(objective, w[half:])])
