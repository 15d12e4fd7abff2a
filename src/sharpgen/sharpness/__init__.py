"""The sharpness engine: every definition of Andriushchenko et al. (ICML 2023).

>>> from sharpgen.sharpness import Definition, compute_sharpness, split_batches
>>> definition = Definition("worst", "linf", rho=0.002)          # adaptive + logit-normalised
>>> result = compute_sharpness(model, split_batches(x, y, m=128), definition)  # doctest: +SKIP
>>> result.sharpness_loss, result.sharpness_error                            # doctest: +SKIP
"""

from sharpgen.sharpness.definition import Definition
from sharpgen.sharpness.engine import compute_sharpness, split_batches
from sharpgen.sharpness.losses import cross_entropy, normalize_logits, zero_one
from sharpgen.sharpness.objective import SharpnessError
from sharpgen.sharpness.result import BatchResult, SharpnessResult
from sharpgen.sharpness.worst import checkpoints

__all__ = [
    "BatchResult",
    "Definition",
    "SharpnessError",
    "SharpnessResult",
    "checkpoints",
    "compute_sharpness",
    "cross_entropy",
    "normalize_logits",
    "split_batches",
    "zero_one",
]
