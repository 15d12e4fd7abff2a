"""Zoo architectures, the training loop, evaluation helpers and device resolution."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from sharpgen.data.digits import load_digits_split
from sharpgen.device import resolve_device
from sharpgen.evaluate import logits, loss_and_error
from sharpgen.networks.architectures import ARCHITECTURES, build_model
from sharpgen.training import TrainConfig, train

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def subset():
    split = load_digits_split()
    return split.x_train[:256], split.y_train[:256]


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_model_outputs_logits_and_matches_functional_call(arch):
    torch.manual_seed(0)
    model = build_model(arch).eval()
    x = torch.rand(5, 1, 8, 8)
    out = model(x)
    assert out.shape == (5, 10)
    params = {name: p.detach() + 0.01 for name, p in model.named_parameters()}
    shifted = functional_call(model, params, (x,))
    assert shifted.shape == (5, 10) and not torch.allclose(shifted, out)
    same = functional_call(model, dict(model.named_parameters()), (x,))
    assert torch.allclose(same, out)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_model_construction_follows_manual_seed(arch):
    torch.manual_seed(1)
    first = build_model(arch).state_dict()
    torch.manual_seed(1)
    second = build_model(arch).state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_build_model_rejects_unknown_arch():
    with pytest.raises(ValueError, match="resnet"):
        build_model("mlp")


def test_train_reduces_loss_and_returns_eval_model(subset):
    x, y = subset
    cfg = TrainConfig(arch="resnet", lr=0.05, batch_size=32, augment=False, epochs=6, width=8)
    seen = []
    model, history = train(cfg, x, y, CPU, on_epoch=seen.append)
    assert seen == history and [h["epoch"] for h in history] == list(range(1, 7))
    assert set(history[0]) == {"epoch", "lr", "train_loss", "train_error", "seconds"}
    assert history[-1]["train_loss"] < 0.6 * history[0]["train_loss"]
    assert not model.training
    loss, error = loss_and_error(model, x, y, CPU)
    assert error < 0.5 and loss < history[0]["train_loss"]


def test_train_is_bitwise_reproducible(subset):
    x, y = subset
    cfg = TrainConfig(arch="resnet", lr=0.05, batch_size=64, augment=True, weight_decay=5e-4, epochs=2, width=8)
    first, _ = train(cfg, x, y, CPU)
    second, _ = train(cfg, x, y, CPU)
    a, b = first.state_dict(), second.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    third, _ = train(dataclasses.replace(cfg, seed=1), x, y, CPU)
    assert not torch.equal(a["head.weight"], third.state_dict()["head.weight"])


def test_sam_runs_and_differs_from_sgd(subset):
    x, y = subset
    cfg = TrainConfig(arch="vit", lr=0.05, batch_size=64, augment=False, epochs=2)
    sgd, _ = train(cfg, x, y, CPU)
    sam, history = train(dataclasses.replace(cfg, sam_rho=0.05), x, y, CPU)
    assert all(torch.isfinite(torch.tensor(h["train_loss"])) for h in history)
    assert not torch.equal(sgd.state_dict()["head.1.weight"], sam.state_dict()["head.1.weight"])


def test_divergence_raises_floating_point_error(subset):
    x, y = subset
    # BatchNorm makes the ResNet scale invariant enough to survive; the ViT's head and biases overflow
    cfg = TrainConfig(arch="vit", lr=1e6, batch_size=64, augment=False, epochs=3)
    with pytest.raises(FloatingPointError, match=r"epoch \d+, step \d+"):
        train(cfg, x, y, CPU)


def test_train_rejects_batch_larger_than_data(subset):
    x, y = subset
    with pytest.raises(ValueError, match="batch_size"):
        train(TrainConfig(arch="resnet", lr=0.1, batch_size=512, augment=False, epochs=1), x, y, CPU)


@pytest.mark.parametrize("training", [True, False])
def test_evaluate_restores_training_flag(training, subset):
    x, y = subset
    torch.manual_seed(0)
    model = build_model("resnet", width=8).train(training)
    out = logits(model, x, CPU, batch_size=100)
    assert model.training is training
    assert out.shape == (256, 10)
    assert torch.allclose(out, model.eval()(x), atol=1e-5)
    loss, error = loss_and_error(model, x, y, CPU)
    assert loss == pytest.approx(F.cross_entropy(out, y).item(), rel=1e-5)
    assert error == pytest.approx((out.argmax(1) != y).float().mean().item())


def test_resolve_device():
    assert resolve_device("cpu") == CPU
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device().type == expected
    with pytest.raises(ValueError, match="'gpu'.*auto"):
        resolve_device("gpu")
