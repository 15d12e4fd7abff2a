"""Baseline and curvature measures: hand-worked values, exact Hessians, caching, stored init."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from sharpgen import checkpoint, datasets, tables
from sharpgen.jobs.measures import measures as measures_job
from sharpgen.measures import KINDS, Measure, compute_measure
from sharpgen.training import TrainConfig, initial_model, train


def two_layer() -> nn.Module:
    """x -> W2 relu(W1 x), W1 = diag(3, 4), W2 = [1, 1], no biases."""
    model = nn.Sequential(nn.Linear(2, 2, bias=False), nn.ReLU(), nn.Linear(2, 1, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[3.0, 0.0], [0.0, 4.0]]))
        model[2].weight.copy_(torch.tensor([[1.0, 1.0]]))
    return model.eval()


DATA = (torch.ones(4, 2), torch.zeros(4, dtype=torch.long))


def value(kind: str, model: nn.Module, data=DATA, init=None, **kw) -> float:
    return compute_measure(Measure(kind, **kw), model, data, init)


def test_norms_by_hand():
    model = two_layer()
    assert value("param_norm", model) == pytest.approx(math.sqrt(9 + 16 + 1 + 1))
    assert value("frobenius_sum", model) == pytest.approx(25 + 2)
    assert value("frobenius_product", model) == pytest.approx(math.log(25 * 2))
    assert value("spectral_sum", model) == pytest.approx(16 + 2)  # ||diag(3,4)||_2 = 4, ||[1,1]||_2 = sqrt 2
    assert value("spectral_product", model) == pytest.approx(math.log(16 * 2))
    # squared weights on an all-ones input: [1, 1] @ diag(9, 16) @ [1, 1] = 25
    assert value("path_norm", model) == pytest.approx(25)


def test_distance_from_initialisation():
    model = two_layer()
    init = {k: v.clone() for k, v in model.state_dict().items()}
    assert value("dist_init", model, init=init) == 0.0
    init["0.weight"][0, 0] = 1.0
    assert value("dist_init", model, init=init) == pytest.approx(2.0)
    assert math.isnan(value("dist_init", model, init=None))


def test_inverse_margin_by_hand():
    model = nn.Linear(3, 3, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.eye(3))
    x = torch.tensor([[3.0, 1.0, 0.0], [0.0, 2.5, 2.0], [1.0, 0.0, 5.0], [0.0, 4.0, 0.0]])
    y = torch.tensor([0, 1, 2, 1])  # margins 2, 0.5, 4, 4
    assert value("inverse_margin", model, (x, y), percentile=50.0) == pytest.approx(1 / 3.0**2)
    assert value("inverse_margin", model, (x, torch.tensor([1, 1, 2, 1])), percentile=10.0) == math.inf


def test_jacobian_norm_by_hand_layer_inputs_then_batches_of_16():
    """The kit's baseline 2 on two_layer: the layers' inputs are x, W1 x and relu(W1 x).

    x = (1, 1): d out / d x = W2 W1 = (3, 4), mean square 12.5; d out / d (W1 x) = d out / d relu
    = (1, 1), mean square 1 each: 14.5 / 3. x = (1, -1) switches the second unit off: (3, 0)
    -> 4.5, (1, 0) -> 0.5, (1, 1) -> 1: 6 / 3 = 2. 16 of the first then one of the second are
    two batches, whose means are averaged (not the 17 examples)."""
    x = torch.cat([torch.ones(16, 2), torch.tensor([[1.0, -1.0]])])
    data = (x, torch.zeros(17, dtype=torch.long))
    assert value("jacobian_norm", two_layer(), (x[:16], data[1][:16]), n=16) == pytest.approx(14.5 / 3)
    assert value("jacobian_norm", two_layer(), (x[16:], data[1][16:]), n=1) == pytest.approx(2.0)
    assert value("jacobian_norm", two_layer(), data, n=17) == pytest.approx((14.5 / 3 + 2.0) / 2)
    assert Measure("jacobian_norm", n=528).id == "jacobian_norm_n528"
    with pytest.raises(ValueError, match="jacobian_norm needs an nn.Sequential"):
        value("jacobian_norm", nn.ModuleDict({"f": nn.Linear(2, 1)}), n=4)


def softmax_model() -> tuple[nn.Module, tuple[torch.Tensor, torch.Tensor]]:
    torch.manual_seed(0)
    model = nn.Linear(3, 3).double().eval()
    x = torch.randn(32, 3, dtype=torch.float64)
    return model, (x, torch.randint(0, 3, (32,)))


def exact_hessian(model: nn.Module, data) -> tuple[np.ndarray, np.ndarray]:
    """The Hessian of the mean cross-entropy in the flattened parameters, and |w| flattened."""
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def loss(w):
        params, i = {}, 0
        for name, shape in zip(names, shapes):
            params[name] = w[i : i + shape.numel()].reshape(shape)
            i += shape.numel()
        out = torch.func.functional_call(model, params, (data[0],))
        return torch.nn.functional.cross_entropy(out, data[1])

    return torch.autograd.functional.hessian(loss, flat).numpy(), flat.abs().numpy()


@pytest.mark.parametrize("adaptive", [False, True])
def test_hessian_trace_and_top_eigenvalue_against_the_exact_hessian(adaptive):
    model, data = softmax_model()
    h, w = exact_hessian(model, data)
    if adaptive:
        h = w[:, None] * h * w[None, :]
    trace = value("hessian_trace", model, data, adaptive=adaptive, samples=300, n=32)
    assert trace == pytest.approx(np.trace(h), rel=0.1)  # Hutchinson: unbiased, seeded
    eig = value("hessian_eig", model, data, adaptive=adaptive, iters=100, n=32)
    assert eig == pytest.approx(np.linalg.eigvalsh(h).max(), rel=1e-4)


def test_pacbayes_sigma_is_where_the_average_loss_rise_meets_the_threshold():
    model, data = softmax_model()
    strict = value("pacbayes_sigma", model, data, threshold=0.01, samples=8, iters=30, n=32)
    loose = value("pacbayes_sigma", model, data, threshold=0.1, samples=8, iters=30, n=32)
    assert 0 < loose < strict  # 1 / sigma^2: a larger allowed rise admits a larger sigma
    # the same noise draws as the measure (seed 0, parameters in order)
    generator = torch.Generator().manual_seed(0)
    params = [p.detach() for p in model.parameters()]
    draws = [[torch.randn(p.shape, generator=generator).to(p) for p in params] for _ in range(8)]

    def rise(sigma: float) -> float:
        loss = torch.nn.functional.cross_entropy
        with torch.no_grad():
            clean = float(loss(model(data[0]), data[1]))
            total = 0.0
            for draw in draws:
                w, b = (p + sigma * z for p, z in zip(params, draw))
                total += float(loss(data[0] @ w.T + b, data[1]))
        return total / len(draws) - clean

    sigma = strict**-0.5
    assert rise(sigma) <= 0.01 < rise(sigma * 1.001)


def test_ids_are_stable_and_distinct():
    ids = [Measure(k).id for k in KINDS if k != "function"] + [Measure("hessian_trace", adaptive=True).id]
    assert len(set(ids)) == len(ids)
    assert Measure("hessian_trace", adaptive=True, samples=2).id == "hessian_trace_adaptive_s2_n256"
    assert Measure.from_dict(Measure("pacbayes_sigma").as_dict()) == Measure("pacbayes_sigma")
    with pytest.raises(ValueError, match="unknown keys"):
        Measure.from_dict({"kind": "param_norm", "rho": 1})
    with pytest.raises(ValueError, match="no adaptive variant"):
        Measure("param_norm", adaptive=True)
    with pytest.raises(ValueError, match="goes with kind function"):
        Measure("function")  # a measure from outside the package names its function


def test_training_starts_from_the_stored_initial_model(tmp_path: Path):
    cfg = TrainConfig(arch="resnet", lr=0.05, batch_size=16, augment=False, epochs=0, width=4)
    x, y = torch.randn(32, 1, 8, 8), torch.arange(32) % 10
    untrained, _ = train(cfg, x, y, torch.device("cpu"))
    init = initial_model(cfg, num_classes=10).state_dict()
    assert all(torch.equal(init[k], v) for k, v in untrained.state_dict().items())
    path = tmp_path / "checkpoint.pt"
    checkpoint.save(untrained, path, arch="resnet", width=4, num_classes=10, init_state=init)
    assert all(torch.equal(checkpoint.load_init(path)[k], v) for k, v in init.items())
    checkpoint.save(untrained, path, arch="resnet", width=4, num_classes=10)
    assert checkpoint.load_init(path) is None


def test_measure_job_caches_each_pair_and_computes_only_a_new_measure(tmp_path: Path):
    cfg = TrainConfig(arch="resnet", lr=0.05, batch_size=16, augment=False, epochs=1, width=4)
    x, y = torch.randn(64, 1, 8, 8), torch.arange(64) % 10
    model, _ = train(cfg, x, y, torch.device("cpu"))
    ckpt = tmp_path / "m.pt"
    checkpoint.save(model, ckpt, arch="resnet", width=4, num_classes=10, init_state=initial_model(cfg, 10).state_dict())
    subset = tmp_path / "subset.pt"
    datasets.save({"sharpness": (x, y)}, subset)
    cache, out = tmp_path / "cache", tmp_path / "out.parquet"
    first = [Measure("param_norm"), Measure("dist_init"), Measure("hessian_trace", samples=1, n=32)]
    measures_job("digits", [("m", ckpt, "resnet")], subset, first, cache, 1, out)
    table = tables.read(out, tables.MEASURES)
    assert list(table["measure"]) == sorted(m.id for m in first)
    assert table["value"].notna().all() and (table.loc[table.measure == "dist_init", "value"] > 0).all()
    stamps = {p.name: p.stat().st_mtime_ns for p in (cache / "m").iterdir()}
    measures_job("digits", [("m", ckpt, "resnet")], subset, [*first, Measure("path_norm")], cache, 1, out)
    after = {p.name: p.stat().st_mtime_ns for p in (cache / "m").iterdir()}
    assert {k: after[k] for k in stamps} == stamps  # cached pairs untouched
    assert set(after) - set(stamps) == {"path_norm.parquet"}
    assert len(tables.read(out, tables.MEASURES)) == 4
