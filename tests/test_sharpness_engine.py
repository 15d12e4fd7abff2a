"""The engine's contract: the authors' APGD, restoration, errors, m-sharpness, costs."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from sharpgen.sharpness import (
    Definition,
    SharpnessError,
    checkpoints,
    compute_sharpness,
    normalize_logits,
    split_batches,
)
from sharpgen.sharpness.projection import project_l2_weighted


def cnn_case(seed: int = 0):
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Dropout(0.5), nn.Linear(64, 10)
    )
    model.train()
    with torch.no_grad():  # non-trivial running statistics
        for _ in range(3):
            model(torch.randn(16, 1, 4, 4))
    x = torch.randn(64, 1, 4, 4)
    y = torch.randint(0, 10, (64,))
    return model, x, y


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_bitwise(model: nn.Module, before: dict[str, torch.Tensor]) -> None:
    after = model.state_dict()
    assert after.keys() == before.keys()
    for key, value in before.items():
        assert torch.equal(after[key], value), key


def reference_apgd(model: nn.Module, x, y, rho: float, n_iters: int, norm: str, adaptive: bool, logit_norm: bool):
    """The authors' algorithm as described, written naively: edit the weights in place, keep
    state-dict copies of the best point, a separate forward for every evaluation."""
    model = copy.deepcopy(model).eval()
    params = [p for p in model.parameters()]
    w0 = [p.detach().clone() for p in params]
    c = [w.abs() if adaptive else torch.ones_like(w) for w in w0]

    def loss_err():
        with torch.no_grad():
            out = model(x)
            out = normalize_logits(out) if logit_norm else out
            return nn.functional.cross_entropy(out, y).item(), (out.argmax(1) != y).float().mean().item()

    init_loss, init_err = loss_err()
    delta = [torch.zeros_like(w) for w in w0]
    prev = [d.clone() for d in delta]
    best_state = copy.deepcopy(model.state_dict())
    best_loss, best_err = init_loss, init_err
    step = prev_step = 2 * rho
    prev_best, prev_cp, updates, halvings = init_loss, 0, 0, 0
    marks = checkpoints(n_iters)
    for i in range(n_iters):
        backup = [d.clone() for d in delta]
        model.zero_grad()
        out = model(x)
        out = normalize_logits(out) if logit_norm else out
        nn.functional.cross_entropy(out, y).backward()
        with torch.no_grad():
            if norm == "l2":
                gnorm = sum(p.grad.norm() ** 2 for p in params) ** 0.5
                delta = [d + step / (gnorm + 1e-12) * p.grad * ci for d, p, ci in zip(delta, params, c)]
                if adaptive:  # projection onto the ellipsoid by bisection; c == 0 coordinates excluded
                    wn = lambda ds: sum((torch.where(ci > 0, d / ci, 0.0) ** 2).sum() for d, ci in zip(ds, c)) ** 0.5
                    if wn(delta) > rho:
                        lo, hi = 0.0, 1.0
                        while wn([d / (1 + 2 * hi / ci**2) for d, ci in zip(delta, c)]) > rho:
                            hi *= 2
                        for _ in range(200):
                            mid = (lo + hi) / 2
                            if wn([d / (1 + 2 * mid / ci**2) for d, ci in zip(delta, c)]) > rho:
                                lo = mid
                            else:
                                hi = mid
                        delta = [d / (1 + 2 * hi / ci**2) for d, ci in zip(delta, c)]
                else:
                    n = sum((d**2).sum() for d in delta) ** 0.5
                    if n > rho:
                        delta = [d * rho / n for d in delta]
            else:
                delta = [d + step * p.grad.sign() * ci for d, p, ci in zip(delta, params, c)]
                delta = [torch.max(torch.min(d, rho * ci), -rho * ci) for d, ci in zip(delta, c)]
            delta = [0.75 * d + 0.25 * pd for d, pd in zip(delta, prev)]
            for p, w, d in zip(params, w0, delta):
                p.data = w + d
            prev = backup
            cur_loss, cur_err = loss_err()
            if cur_loss > best_loss:
                best_loss, best_err = cur_loss, cur_err
                best_state = copy.deepcopy(model.state_dict())
                updates += 1
            if i in marks:
                cond1 = updates < 0.75 * (i - prev_cp)
                cond2 = prev_step == step and prev_best == best_loss
                prev_step, prev_best, prev_cp, updates = step, best_loss, i, 0
                if cond1 or cond2:
                    step *= 0.5
                    halvings += 1
                    model.load_state_dict(best_state)
    return best_loss - init_loss, best_err - init_err, halvings


@pytest.mark.parametrize(
    "norm,adaptive,logit_norm,rho",
    [("linf", False, False, 0.01), ("linf", True, True, 0.05), ("l2", False, False, 0.5), ("l2", True, True, 0.5)],
)
def test_apgd_defaults_equal_the_authors_algorithm(norm, adaptive, logit_norm, rho) -> None:
    model, x, y = cnn_case()
    model, x = model.double(), x.double()  # float64, so that the two orders of operations agree
    d = Definition("worst", norm, rho=rho, adaptive=adaptive, logit_norm=logit_norm, m=64)
    ours = compute_sharpness(model, [(x, y)], d, device="cpu")
    loss, err, halvings = reference_apgd(model, x, y, rho, d.n_iters, norm, adaptive, logit_norm)
    tol = 1e-9 if (norm, adaptive) == ("l2", True) else 1e-11  # bisection vs our Newton projection
    assert ours.sharpness_loss == pytest.approx(loss, rel=tol)
    assert ours.sharpness_error == pytest.approx(err, abs=1e-9)
    assert ours.batches[0].halvings == halvings


def test_checkpoint_schedule_for_twenty_iterations() -> None:
    # p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06) from p = [0, 0.22]; ceil(0.70 * 20) is 15 in floats
    assert checkpoints(20) == [5, 9, 12, 15, 16, 18, 19, 20]
    assert checkpoints(100)[0] == 22


@pytest.mark.parametrize("algorithm,n_iters", [("average", 1), ("worst", 7), ("worst", 20)])
def test_passes_per_batch_are_the_minimum(algorithm, n_iters) -> None:
    model, x, y = cnn_case()
    d = Definition(algorithm, "linf", rho=0.01, m=16, n_samples=5, n_iters=n_iters)
    s = compute_sharpness(model, split_batches(x, y, 16), d, device="cpu").summary()
    if algorithm == "worst":
        assert (s["forward_passes"], s["backward_passes"]) == (4 * (n_iters + 1), 4 * n_iters)
    else:
        assert (s["forward_passes"], s["backward_passes"]) == (4 * 6, 0)


@pytest.mark.parametrize("variant", ["momentum", "reset", "init"])
def test_apgd_switches_run_and_stay_in_the_set(variant: str) -> None:
    model, x, y = cnn_case()
    kwargs = {"momentum": {"momentum": "autoattack"}, "reset": {"reset": "clean"}, "init": {"init": "random", "restarts": 3}}
    for norm, rho in (("linf", 0.02), ("l2", 0.3)):
        d = Definition("worst", norm, rho=rho, m=64, **kwargs[variant])
        result = compute_sharpness(model, [(x, y)], d, device="cpu")
        assert result.sharpness_loss >= 0
        assert result.batches[0].delta_norm <= rho * (1 + 1e-5)
    if variant == "init":
        assert result.batches[0].forward_passes == 1 + 3 * (d.n_iters + 1)


def test_m_sharpness_is_the_mean_of_independent_batches() -> None:
    model, x, y = cnn_case()
    d = Definition("worst", "linf", rho=0.02, m=16)
    whole = compute_sharpness(model, split_batches(x, y, 16), d, device="cpu")
    alone = [compute_sharpness(model, [(x[i : i + 16], y[i : i + 16])], d, device="cpu") for i in range(0, 64, 16)]
    assert [b.sharpness_loss for b in whole.batches] == [a.sharpness_loss for a in alone]
    assert whole.sharpness_loss == pytest.approx(sum(a.sharpness_loss for a in alone) / 4, rel=1e-12)


def test_same_seed_same_result_other_seed_other_noise() -> None:
    model, x, y = cnn_case()
    batches = split_batches(x, y, 32)
    d = Definition("average", "l2", rho=0.05, m=32, n_samples=4)
    first = compute_sharpness(model, batches, d, device="cpu")
    again = compute_sharpness(model, batches, d, device="cpu")
    other = compute_sharpness(model, batches, Definition("average", "l2", rho=0.05, m=32, n_samples=4, seed=1), device="cpu")
    assert [b.perturbed_loss for b in first.batches] == [b.perturbed_loss for b in again.batches]
    assert first.sharpness_loss != other.sharpness_loss


@pytest.mark.parametrize("algorithm", ["average", "worst"])
def test_model_is_restored_bitwise_and_its_training_flags_kept(algorithm: str) -> None:
    model, x, y = cnn_case()
    before = snapshot(model)
    compute_sharpness(model, [(x, y)], Definition(algorithm, "l2", rho=0.1, m=64, n_samples=3), device="cpu")
    assert_bitwise(model, before)
    assert all(m.training for m in model.modules())


class LogOfWeight(nn.Module):
    """Finite at w0 = 1e-3, NaN as soon as a perturbation makes the weight negative."""

    def __init__(self) -> None:
        super().__init__()
        self.p = nn.Parameter(torch.full((10,), 1e-3))
        self.register_buffer("count", torch.zeros(()))

    def forward(self, x):
        return torch.log(self.p).expand(len(x), 10) * x[:, :1]


def test_nan_loss_raises_naming_definition_batch_and_iteration_and_restores() -> None:
    model = LogOfWeight().train()
    before = snapshot(model)
    x, y = torch.ones(8, 3), torch.zeros(8, dtype=torch.long)
    d = Definition("average", "linf", rho=0.5, adaptive=False, logit_norm=False, m=4)
    with pytest.raises(SharpnessError) as info:
        compute_sharpness(model, split_batches(x, y, 4), d, device="cpu")
    message = str(info.value)
    assert d.id in message and "batch 0" in message and "noise sample" in message and "nan" in message
    assert_bitwise(model, before)
    assert model.training


def test_eval_mode_is_used_so_dropout_and_batchnorm_statistics_are_fixed() -> None:
    model, x, y = cnn_case()
    d = Definition("average", "l2", rho=1e-12, adaptive=False, logit_norm=False, m=64, n_samples=2)
    result = compute_sharpness(model, [(x, y)], d, device="cpu")
    with torch.no_grad():
        expected = nn.functional.cross_entropy(copy.deepcopy(model).eval()(x), y).item()
    assert result.clean_loss == pytest.approx(expected, rel=1e-6)
    assert abs(result.sharpness_loss) < 1e-6  # train-mode dropout would make this O(1)


class Tied(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encode = nn.Linear(6, 6, bias=False)
        self.decode = nn.Linear(6, 6, bias=False)
        self.decode.weight = self.encode.weight
        self.head = nn.Linear(6, 3)
        self.register_buffer("scale", torch.tensor(2.0))
        self.checks: list[bool] = []

    def forward(self, x):
        self.checks.append(torch.equal(self.encode.weight, self.decode.weight) and self.scale.item() == 2.0)
        return self.head(self.decode(torch.relu(self.encode(x))) * self.scale)


def test_tied_weights_are_perturbed_once_and_buffers_never() -> None:
    torch.manual_seed(0)
    model = Tied()
    x, y = torch.randn(8, 6), torch.randint(0, 3, (8,))
    result = compute_sharpness(model, [(x, y)], Definition("worst", "l2", rho=0.1, m=8, n_iters=5), device="cpu")
    assert result.n_params == 36 + 18 + 3
    assert model.checks and all(model.checks)


def test_adaptive_l2_projection_is_exact_and_handles_zero_weights() -> None:
    g = torch.Generator().manual_seed(0)
    c = torch.rand(10_000, generator=g) * 10 ** torch.empty(10_000).uniform_(-6, 1, generator=g)
    c[::7] = 0.0
    d = torch.randn(10_000, generator=g) * c * 50 + (c == 0) * torch.randn(10_000, generator=g)
    z = project_l2_weighted(d, c, rho=0.5)
    active = c > 0
    assert torch.isfinite(z).all()
    assert (z[~active] == 0).all()
    assert (z[active] / c[active]).double().norm().item() == pytest.approx(0.5, rel=1e-6)
    # KKT: z = d s / (s + mu) with one mu >= 0 shared by every coordinate
    s, dd, zz = c[active].double() ** 2, d[active].double(), z[active].double()
    mu = s * (dd - zz) / zz
    big = dd.abs() > 1e-3 * dd.abs().max()
    assert mu[big].std() / mu[big].mean() < 1e-3
    inside = d * 1e-9
    assert torch.equal(project_l2_weighted(inside, c, 0.5), torch.where(active, inside, 0.0))


def test_zero_weights_get_no_perturbation_and_no_nan() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    with torch.no_grad():
        model[0].weight[:, 0] = 0.0
        model[2].bias.zero_()
    x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
    for algorithm, norm in (("average", "l2"), ("worst", "l2"), ("worst", "linf")):
        result = compute_sharpness(model, [(x, y)], Definition(algorithm, norm, rho=0.3, m=16), device="cpu")
        assert math.isfinite(result.sharpness_loss)


@pytest.mark.parametrize(
    "kwargs,key",
    [
        ({"algorithm": "mean", "norm": "l2", "rho": 0.1}, "algorithm"),
        ({"algorithm": "worst", "norm": "l1", "rho": 0.1}, "norm"),
        ({"algorithm": "worst", "norm": "l2", "rho": -1.0}, "rho"),
        ({"algorithm": "worst", "norm": "l2", "rho": 0.1, "m": 0}, "m"),
        ({"algorithm": "average", "norm": "l2", "rho": 0.1, "n_samples": 3, "antithetic": True}, "antithetic"),
        ({"algorithm": "worst", "norm": "l2", "rho": 0.1, "restarts": 2}, "restarts"),
        ({"algorithm": "worst", "norm": "l2", "rho": 0.1, "radius": 2}, "radius"),
    ],
)
def test_bad_definitions_name_the_key(kwargs, key) -> None:
    with pytest.raises(ValueError, match=key):
        Definition.from_dict(kwargs)


def test_ids_differ_whenever_a_field_differs() -> None:
    base = Definition("worst", "linf", rho=0.002)
    variants = [
        base,
        Definition("worst", "linf", rho=0.004),
        Definition("worst", "linf", rho=0.002, adaptive=False),
        Definition("worst", "linf", rho=0.002, logit_norm=False),
        Definition("worst", "linf", rho=0.002, m=64),
        Definition("worst", "linf", rho=0.002, n_iters=10),
        Definition("worst", "linf", rho=0.002, momentum="autoattack"),
        Definition("worst", "linf", rho=0.002, reset="clean"),
        Definition("worst", "linf", rho=0.002, init="random", restarts=2),
        Definition("worst", "linf", rho=0.002, seed=3),
        Definition("worst", "l2", rho=0.002),
        Definition("average", "linf", rho=0.002),
    ]
    assert len({v.id for v in variants}) == len(variants)
    assert base.id == "worst_linf_adaptive-lognorm_rho0.002_m128_it20"


def test_split_batches_refuses_a_ragged_split() -> None:
    with pytest.raises(ValueError, match="m = 48"):
        split_batches(torch.zeros(100, 2), torch.zeros(100), 48)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu_and_the_model_stays_home() -> None:
    model, x, y = cnn_case()
    d = Definition("worst", "linf", rho=0.01, m=64)
    cpu = compute_sharpness(model, [(x, y)], d, device="cpu")
    gpu = compute_sharpness(model, [(x, y)], d, device="cuda")
    assert gpu.device.startswith("cuda")
    assert next(model.parameters()).device.type == "cpu"
    assert gpu.sharpness_loss == pytest.approx(cpu.sharpness_loss, rel=1e-3, abs=1e-5)


def test_tf32_is_off_during_the_computation_and_restored_after() -> None:
    model, x, y = cnn_case()
    seen = []
    model.register_forward_hook(lambda *_: seen.append(torch.backends.cudnn.allow_tf32))
    before = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = True
    try:
        compute_sharpness(model, [(x, y)], Definition("average", "l2", rho=0.1, m=64, n_samples=2), device="cpu")
        assert seen and not any(seen)
        assert torch.backends.cudnn.allow_tf32 is True
    finally:
        torch.backends.cudnn.allow_tf32 = before
