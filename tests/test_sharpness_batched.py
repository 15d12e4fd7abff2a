"""Average-case noise evaluated k samples at a time through torch.func.vmap equals the loop."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from sharpgen.sharpness import Definition, SharpnessError, compute_sharpness, split_batches
from sharpgen.sharpness.average import vmap_chunk


def conv_bn_case():
    """A small conv net with BatchNorm (non-trivial running statistics, zero BN biases so that
    adaptive noise has inactive coordinates) and dropout, left in train mode."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
        nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
        nn.Flatten(), nn.Dropout(0.5), nn.Linear(64, 5),
    )
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(16, 2, 4, 4))
    return model, torch.randn(32, 2, 4, 4), torch.randint(0, 5, (32,))


def transformer_case():
    from timm.models.vision_transformer import VisionTransformer

    torch.manual_seed(0)
    model = VisionTransformer(img_size=8, patch_size=4, embed_dim=16, depth=2, num_heads=2, num_classes=5)
    return model, torch.randn(32, 3, 8, 8), torch.randint(0, 5, (32,))


CASES = {"conv-bn": conv_bn_case, "transformer": transformer_case}


def state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def run(model, x, y, d, batch_samples):
    return compute_sharpness(model, split_batches(x, y, d.m), d, device="cpu", batch_samples=batch_samples)


# CPU flash attention has no vmap batching rule: torch falls back to a per-sample loop inside vmap
# (correct, slower, with a warning); CUDA's fused attention kernels have batching rules.
@pytest.mark.filterwarnings("ignore:There is a performance drop:UserWarning")
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("norm", ["l2", "linf"])
@pytest.mark.parametrize("adaptive", [True, False])
@pytest.mark.parametrize("antithetic", [False, True])
def test_batched_equals_the_loop(case, norm, adaptive, antithetic) -> None:
    model, x, y = CASES[case]()
    before = state(model)
    d = Definition("average", norm, rho=0.05, adaptive=adaptive, m=16, n_samples=6, antithetic=antithetic, seed=3)
    loop = run(model, x, y, d, 1)
    for k in (4, 6):  # 4: chunks of 4 + 2 (a partial last chunk); 6: all at once
        batched = run(model, x, y, d, k)
        for a, b in zip(loop.batches, batched.batches):
            assert b.clean_loss == a.clean_loss
            assert b.perturbed_loss == pytest.approx(a.perturbed_loss, rel=1e-6)
            assert b.perturbed_error == pytest.approx(a.perturbed_error, abs=1e-6)
            assert b.delta_norm == pytest.approx(a.delta_norm, rel=1e-6)
            assert (b.forward_passes, b.backward_passes) == (a.forward_passes, a.backward_passes) == (7, 0)
        # a difference of two losses of order 1: float32 rounding of the losses, not of the difference
        assert batched.sharpness_loss == pytest.approx(loop.sharpness_loss, abs=1e-6 * loop.clean_loss)
    after = model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in before.items())
    assert all(m.training for m in model.modules())


def test_batched_equals_the_loop_to_float64_rounding() -> None:
    model, x, y = conv_bn_case()
    model, x = model.double(), x.double()
    d = Definition("average", "l2", rho=0.05, m=32, n_samples=6, antithetic=True)
    loop, batched = run(model, x, y, d, 1), run(model, x, y, d, 6)
    assert batched.sharpness_loss == pytest.approx(loop.sharpness_loss, rel=1e-9)


def test_auto_is_the_loop_on_cpu_and_bitwise_equal_to_it() -> None:
    model, x, y = conv_bn_case()
    d = Definition("average", "l2", rho=0.1, m=16, n_samples=4)
    assert vmap_chunk(10**6, 4, 20, torch.device("cpu")) == 20
    auto, loop = run(model, x, y, d, "auto"), run(model, x, y, d, 1)
    assert [b.perturbed_loss for b in auto.batches] == [b.perturbed_loss for b in loop.batches]


def test_the_loop_is_unchanged_same_seed_same_draws() -> None:
    """The noise of sample k is the k-th draw of the batch's generator in every mode: an odd
    chunk size with antithetic pairs (rounded down to even) still reproduces the loop."""
    model, x, y = conv_bn_case()
    d = Definition("average", "linf", rho=0.1, m=32, n_samples=10, antithetic=True)
    loop, odd = run(model, x, y, d, 1), run(model, x, y, d, 5)
    assert odd.batches[0].perturbed_loss == pytest.approx(loop.batches[0].perturbed_loss, rel=1e-6)


@pytest.mark.parametrize("bad", [0, -1, 1.5, "fast", True])
def test_bad_batch_samples_are_refused(bad) -> None:
    model, x, y = conv_bn_case()
    with pytest.raises(ValueError, match="batch_samples"):
        run(model, x, y, Definition("average", "l2", rho=0.1, m=32), bad)


def test_a_nan_in_a_chunk_names_its_sample_and_the_model_is_restored() -> None:
    class LogOfWeight(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.p = nn.Parameter(torch.full((5,), 1e-3))

        def forward(self, x):
            return torch.log(self.p).expand(len(x), 5) * x[:, :1]

    model = LogOfWeight()
    before = state(model)
    x, y = torch.ones(8, 3), torch.zeros(8, dtype=torch.long)
    d = Definition("average", "linf", rho=0.5, adaptive=False, logit_norm=False, m=8, n_samples=4)
    with pytest.raises(SharpnessError, match="noise sample"):
        run(model, x, y, d, 4)
    assert torch.equal(model.p, before["p"])


class ItemInForward(nn.Module):
    """A forward that vmap cannot batch (``.item()``)."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 3)

    def forward(self, x):
        return self.lin(x) * (1.0 + 0.0 * self.lin.weight.sum().item())


def test_a_model_vmap_cannot_batch_fails_when_batched_and_runs_in_the_loop() -> None:
    torch.manual_seed(0)
    model = ItemInForward().eval()
    x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
    d = Definition("average", "l2", rho=0.1, m=8, n_samples=4)
    with pytest.raises(Exception):
        run(model, x, y, d, 4)
    assert math.isfinite(run(model, x, y, d, "auto").sharpness_loss)


def test_batchnorm_in_eval_mode_under_vmap_uses_running_statistics() -> None:
    """rho -> 0: every batched sample gives the eval-mode clean loss (train-mode BN would not)."""
    model, x, y = conv_bn_case()
    d = Definition("average", "l2", rho=1e-12, adaptive=False, logit_norm=False, m=32, n_samples=4)
    result = run(model, x, y, d, 4)
    with torch.no_grad():
        expected = nn.functional.cross_entropy(copy.deepcopy(model).eval()(x), y).item()
    assert result.clean_loss == pytest.approx(expected, rel=1e-6)
    assert abs(result.sharpness_loss) < 1e-6


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("case", sorted(CASES))
def test_cuda_vmap_matches_the_loop(case) -> None:
    model, x, y = CASES[case]()
    d = Definition("average", "l2", rho=0.05, m=16, n_samples=6, antithetic=True)
    assert vmap_chunk(10**5, 4, 6, torch.device("cuda")) == 6
    loop = compute_sharpness(model, split_batches(x, y, 16), d, device="cuda")
    auto = compute_sharpness(model, split_batches(x, y, 16), d, device="cuda", batch_samples=6)
    for a, b in zip(loop.batches, auto.batches):
        assert b.perturbed_loss == pytest.approx(a.perturbed_loss, rel=1e-5)
        assert b.forward_passes == a.forward_passes == 7
    assert next(model.parameters()).device.type == "cpu"
