"""The sharpness engine: every definition of Andriushchenko et al. (ICML 2023).

>>> from sharpgen.sharpness import Definition, compute_sharpness, split_batches
>>> definition = Definition("worst", "linf", rho=0.002)          # adaptive + logit-normalised
>>> result = compute_sharpness(model, split_batches(x, y, m=128), definition)  # doctest: +SKIP
>>> result.sharpness_loss, result.sharpness_error                            # doctest: +SKIP

Names are imported on first use, so that ``sharpgen.sharpness.definition`` (what the workflow
needs while planning) loads without torch.
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "BatchResult": "result",
    "Definition": "definition",
    "SharpnessError": "objective",
    "SharpnessResult": "result",
    "checkpoints": "worst",
    "compute_sharpness": "engine",
    "cross_entropy": "losses",
    "normalize_logits": "losses",
    "split_batches": "engine",
    "zero_one": "losses",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
