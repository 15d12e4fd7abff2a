"""The flat-buffer engine: the same draws and values as a plain per-parameter-tensor loop, and
per-sample / per-iteration work that does not grow with the number of parameter tensors."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.nn import functional as F
from torch.profiler import ProfilerActivity, profile

from sharpgen.sharpness import Definition, compute_sharpness, split_batches
from sharpgen.sharpness.engine import batch_seed
from sharpgen.sharpness.losses import normalize_logits


def conv_bn_case():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 8 * 8, 5)
    )
    with torch.no_grad():
        model[1].running_mean.uniform_(-0.2, 0.2)
        model[0].bias[:2] = 0.0  # exact zeros: not perturbed under adaptive noise
    return model, torch.randn(32, 3, 8, 8), torch.randint(0, 5, (32,))


def per_tensor_average(model: nn.Module, x, y, d: Definition) -> list[float]:
    """Mean perturbed loss per batch, one parameter tensor at a time: each sample draws one
    vector of all coordinates from the batch's generator (the engine's stream), and each tensor
    takes its slice of it, is perturbed and loaded into a copy of the model."""
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    w0 = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    total = sum(p.numel() for p in w0.values())
    out = []
    for index, (xb, yb) in enumerate(split_batches(x, y, d.m)):
        generator = torch.Generator().manual_seed(batch_seed(d.seed, index))
        losses = []
        for k in range(d.n_samples):
            if not (d.antithetic and k % 2):
                noise = torch.empty(total)
                noise.normal_(generator=generator) if d.norm == "l2" else noise.uniform_(-1.0, 1.0, generator=generator)
            sign = -1.0 if d.antithetic and k % 2 else 1.0
            perturbed, start = copy.deepcopy(model).eval(), 0
            with torch.no_grad():
                for name in names:
                    p = perturbed.get_parameter(name)
                    piece = noise[start : start + p.numel()].view_as(p)
                    start += p.numel()
                    c = w0[name].abs() if d.adaptive else torch.ones_like(p)
                    p.copy_(w0[name] + sign * d.rho * c * piece)
                logits = perturbed(xb)
                losses.append(F.cross_entropy(normalize_logits(logits) if d.logit_norm else logits, yb).item())
        out.append(sum(losses) / len(losses))
    return out


@pytest.mark.parametrize("norm", ["l2", "linf"])
@pytest.mark.parametrize("adaptive", [True, False])
@pytest.mark.parametrize("antithetic", [False, True])
def test_average_case_equals_a_per_tensor_loop(norm: str, adaptive: bool, antithetic: bool) -> None:
    model, x, y = conv_bn_case()
    d = Definition("average", norm, rho=0.05, adaptive=adaptive, m=16, n_samples=4, antithetic=antithetic, seed=3)
    result = compute_sharpness(model, split_batches(x, y, d.m), d, device="cpu")
    expected = per_tensor_average(model, x, y, d)
    assert [b.perturbed_loss for b in result.batches] == pytest.approx(expected, rel=1e-6)


def mlp(layers: int) -> nn.Module:
    torch.manual_seed(0)
    dims = [12] + [8] * (layers - 1) + [3]
    return nn.Sequential(*[nn.Linear(dims[i], dims[i + 1]) for i in range(layers)])


def events(fn) -> int:
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    return len(prof.events())


def per_step_events(model: nn.Module, algorithm: str, norm: str) -> float:
    """Operator events the engine adds per noise sample / APGD iteration (2 -> 6 steps)."""
    x, y = torch.randn(8, 12, generator=torch.Generator().manual_seed(0)), torch.arange(8) % 3
    counts = []
    for k in (2, 6):
        key = "n_samples" if algorithm == "average" else "n_iters"
        d = Definition(algorithm, norm, rho=0.01, m=8, **{key: k})
        compute_sharpness(model, [(x, y)], d, device="cpu")  # warm-up
        counts.append(events(lambda d=d: compute_sharpness(model, [(x, y)], d, device="cpu")))
    return (counts[1] - counts[0]) / 4


@pytest.mark.parametrize("algorithm,norm", [("average", "l2"), ("average", "linf"), ("worst", "linf"), ("worst", "l2")])
def test_engine_work_per_step_does_not_grow_with_the_number_of_tensors(algorithm: str, norm: str) -> None:
    """The passes themselves grow with the layers (4 vs 16 here); the engine's own work per step
    must not: compare both against the bare passes' growth."""
    small, large = mlp(4), mlp(16)

    def bare(model: nn.Module) -> float:
        x, y = torch.randn(8, 12), torch.arange(8) % 3

        def step() -> None:
            if algorithm == "worst":
                model.zero_grad(set_to_none=True)
                F.cross_entropy(model(x), y).backward()
            else:
                with torch.no_grad():
                    F.cross_entropy(model(x), y)

        step()
        return events(step)

    beyond_small = per_step_events(small, algorithm, norm) - bare(small)
    beyond_large = per_step_events(large, algorithm, norm) - bare(large)
    assert beyond_large <= beyond_small + 2, (beyond_small, beyond_large)
