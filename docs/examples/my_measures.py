"""A measure from outside sharpgen (docs/your-models.md): the worked example of the contract.

A measure is a function ``f(model, batches) -> float``: ``model`` is in eval mode on its device,
``batches`` is a list of (inputs, labels) on the same device (the first ``n`` examples of the
sharpness data, ``m`` per batch). Name it in a setting's block::

    measures:
      - {kind: function, function: "my_measures:mean_entropy", n: 64, m: 32}

Its id in the tables is ``mean_entropy_n64_m32``; its values are cached per model and
recomputed only when this function's source (or the model, or the data) changes.
"""

import torch


def mean_entropy(model: torch.nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """The average entropy of the model's predicted class distribution (in nats)."""
    total, count = 0.0, 0
    with torch.no_grad():
        for x, _ in batches:
            p = torch.softmax(model(x).double(), dim=1)
            total += float(-(p * p.clamp_min(1e-30).log()).sum())
            count += len(x)
    return total / count
