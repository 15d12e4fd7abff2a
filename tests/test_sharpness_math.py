"""The engine against closed forms: quadratics, the rho -> 0 limit, and invariances."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.func import functional_call, hessian

from sharpgen.sharpness import Definition, compute_sharpness, split_batches


class Quadratic(nn.Module):
    """Loss exactly 1/2 (w - w*)^T H (w - w*), returned as the model's single output."""

    def __init__(self, w_star: torch.Tensor, H: torch.Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(w_star.clone())
        self.register_buffer("w_star", w_star.clone())
        self.register_buffer("H", H)
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = self.w - self.w_star
        self.seen.append(self.w.detach().clone())
        return (0.5 * d @ self.H @ d).expand(len(x), 1)


def identity_loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return out[:, 0]


def no_error(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.zeros(len(out), dtype=out.dtype)


def quadratic_case(dim: int = 8, seed: int = 0) -> tuple[Quadratic, list, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    w_star = torch.randn(dim, generator=g, dtype=torch.float64) + 0.5
    a = torch.randn(dim, dim, generator=g, dtype=torch.float64)
    H = a @ a.T / dim + 0.1 * torch.eye(dim, dtype=torch.float64)
    batches = [(torch.zeros(4, 1, dtype=torch.float64), torch.zeros(4, dtype=torch.long))]
    return Quadratic(w_star, H), batches, w_star, H


def run(model, batches, definition):
    return compute_sharpness(model, batches, definition, device="cpu", loss_fn=identity_loss, error_fn=no_error)


@pytest.mark.parametrize("adaptive", [False, True])
def test_average_l2_on_a_quadratic_is_half_rho_squared_trace_HC2(adaptive: bool) -> None:
    model, batches, w_star, H = quadratic_case()
    rho, n = 0.3, 4000
    c = w_star.abs() if adaptive else torch.ones_like(w_star)
    CHC = torch.diag(c) @ H @ torch.diag(c)
    expected = rho**2 / 2 * torch.trace(CHC).item()
    sd = math.sqrt(rho**4 / 2 * torch.trace(CHC @ CHC).item() / n)  # std of the MC mean
    d = Definition("average", "l2", rho=rho, adaptive=adaptive, logit_norm=False, m=4, n_samples=n)
    value = run(model, batches, d).sharpness_loss
    assert abs(value - expected) < 4 * sd, (value, expected, sd)


@pytest.mark.parametrize("adaptive", [False, True])
def test_worst_l2_from_a_random_start_reaches_the_top_eigenvalue(adaptive: bool) -> None:
    model, batches, w_star, H = quadratic_case()
    rho = 0.2
    c = w_star.abs() if adaptive else torch.ones_like(w_star)
    CHC = torch.diag(c) @ H @ torch.diag(c)
    bound = rho**2 / 2 * torch.linalg.eigvalsh(CHC).max().item()
    d = Definition("worst", "l2", rho=rho, adaptive=adaptive, logit_norm=False, m=4, init="random", restarts=2)
    value = run(model, batches, d).sharpness_loss
    assert 0.95 * bound <= value <= bound * (1 + 1e-9), (value, bound)


@pytest.mark.parametrize("adaptive", [False, True])
def test_worst_linf_iterates_never_leave_the_box(adaptive: bool) -> None:
    model, batches, w_star, _ = quadratic_case()
    rho = 0.05
    d = Definition("worst", "linf", rho=rho, adaptive=adaptive, logit_norm=False, m=4, init="random", restarts=2)
    result = run(model, batches, d)
    c = w_star.abs() if adaptive else torch.ones_like(w_star)
    deviations = torch.stack([(w - w_star).abs() / c for w in model.seen])
    assert len(model.seen) == 2 * (d.n_iters + 1) + 1
    assert deviations.max().item() <= rho * (1 + 1e-12)
    assert result.sharpness_loss > 0


def small_mlp(seed: int = 0, dtype=torch.float64) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3)).to(dtype)
    x = torch.randn(32, 5, dtype=dtype)
    y = torch.randint(0, 3, (32,))
    return model, x, y


def half_trace_hess_cc(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """1/2 tr(Hess L ⊙ c c^T) = 1/2 sum_i H_ii c_i^2 with c = |w|, by torch.func on the flat vector."""
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    w = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def loss(flat: torch.Tensor) -> torch.Tensor:
        views, offset = {}, 0
        for name, shape in zip(names, shapes):
            views[name] = flat[offset : offset + shape.numel()].view(shape)
            offset += shape.numel()
        return nn.functional.cross_entropy(functional_call(model, views, (x,)), y)

    H = hessian(loss)(w)
    return 0.5 * (torch.diagonal(H) * w.abs() ** 2).sum().item()


def test_average_case_over_rho_squared_approaches_half_trace_at_small_rho() -> None:
    model, x, y = small_mlp()
    target = half_trace_hess_cc(model, x, y)
    for rho in (1e-2, 1e-3):
        d = Definition("average", "l2", rho=rho, logit_norm=False, m=32, n_samples=2000, antithetic=True)
        ratio = compute_sharpness(model, [(x, y)], d, device="cpu").sharpness_loss / rho**2
        assert ratio == pytest.approx(target, rel=0.05), (rho, ratio, target)


def test_antithetic_pairs_cut_the_variance_at_small_rho() -> None:
    model, x, y = small_mlp()
    estimates = {}
    for antithetic in (False, True):
        values = [
            compute_sharpness(
                model,
                [(x, y)],
                Definition("average", "l2", rho=1e-3, logit_norm=False, m=32, n_samples=20, antithetic=antithetic, seed=s),
                device="cpu",
            ).sharpness_loss
            for s in range(30)
        ]
        estimates[antithetic] = torch.tensor(values).var().item()
    assert estimates[False] > 100 * estimates[True], estimates


class TwoLayer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.hidden = nn.Linear(6, 16)
        self.classifier = nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.relu(self.hidden(x)))


def two_layer_case() -> tuple[TwoLayer, list]:
    torch.manual_seed(1)
    model = TwoLayer().double()
    x = torch.randn(64, 6, dtype=torch.float64)
    y = torch.randint(0, 4, (64,))
    return model, split_batches(x, y, 32)


def rescaled(model: TwoLayer, alpha: float, beta: float) -> TwoLayer:
    """hidden x alpha, classifier x beta / alpha: the function is multiplied by beta."""
    other = TwoLayer().double()
    other.load_state_dict(model.state_dict())
    with torch.no_grad():
        other.hidden.weight.mul_(alpha)
        other.hidden.bias.mul_(alpha)
        other.classifier.weight.mul_(beta / alpha)
        other.classifier.bias.mul_(beta)
    return other


INVARIANT = [
    Definition("average", "l2", rho=0.1, logit_norm=False, m=32),
    Definition("average", "linf", rho=0.1, logit_norm=False, m=32),
    Definition("worst", "linf", rho=0.01, logit_norm=False, m=32),
]


@pytest.mark.parametrize("definition", INVARIANT, ids=lambda d: d.id)
def test_adaptive_sharpness_is_invariant_to_layer_rebalancing(definition: Definition) -> None:
    model, batches = two_layer_case()
    base = compute_sharpness(model, batches, definition, device="cpu").sharpness_loss
    moved = compute_sharpness(rescaled(model, 7.0, 1.0), batches, definition, device="cpu").sharpness_loss
    assert moved == pytest.approx(base, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("algorithm,norm,rho", [("average", "l2", 0.1), ("average", "linf", 0.1), ("worst", "linf", 0.01)])
def test_logit_normalised_adaptive_sharpness_ignores_the_classifier_scale(algorithm, norm, rho) -> None:
    model, batches = two_layer_case()
    d = Definition(algorithm, norm, rho=rho, adaptive=True, logit_norm=True, m=32)
    base = compute_sharpness(model, batches, d, device="cpu").sharpness_loss
    scaled = compute_sharpness(rescaled(model, 1.0, 5.0), batches, d, device="cpu").sharpness_loss
    assert scaled == pytest.approx(base, rel=1e-9, abs=1e-12)


def test_worst_l2_definition_is_invariant_but_the_reference_step_only_nearly() -> None:
    """The l2 APGD step eta * g / ||g|| * c uses the plain gradient norm, so its iterates (not the
    maximum it estimates) depend on the classifier's scale: equal within a few percent, not bitwise."""
    model, batches = two_layer_case()
    d = Definition("worst", "l2", rho=0.1, adaptive=True, logit_norm=True, m=32)
    base = compute_sharpness(model, batches, d, device="cpu").sharpness_loss
    scaled = compute_sharpness(rescaled(model, 1.0, 5.0), batches, d, device="cpu").sharpness_loss
    assert scaled == pytest.approx(base, rel=0.05)
    assert scaled != base


def test_standard_sharpness_changes_under_both_rescalings() -> None:
    model, batches = two_layer_case()
    d = Definition("average", "l2", rho=0.05, adaptive=False, logit_norm=False, m=32)
    base = compute_sharpness(model, batches, d, device="cpu").sharpness_loss
    rebalanced = compute_sharpness(rescaled(model, 7.0, 1.0), batches, d, device="cpu").sharpness_loss
    d_norm = Definition("average", "l2", rho=0.05, adaptive=False, logit_norm=True, m=32)
    base_norm = compute_sharpness(model, batches, d_norm, device="cpu").sharpness_loss
    scaled = compute_sharpness(rescaled(model, 1.0, 5.0), batches, d_norm, device="cpu").sharpness_loss
    assert abs(rebalanced - base) > 0.2 * abs(base)
    assert abs(scaled - base_norm) > 0.2 * abs(base_norm)
