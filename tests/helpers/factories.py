"""Model factories referenced by ``module:function`` arch strings in tests."""

from torch import nn


def linear_4_2() -> nn.Module:
    """A Linear(4, 2) standing in for the authors' CIFAR-10 architectures."""
    return nn.Linear(4, 2)
