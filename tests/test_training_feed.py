"""The fed training loop: augmented batches from DataLoader workers, reproducible from the seed
whatever the number of workers; NaN checked once per epoch, naming the step."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sharpgen.data.cifar_augment import augmenter
from sharpgen.training import TrainConfig, fit, triangular_lr


def run(workers: int | None, randaug: bool = False, lr: float = 0.05):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 32 * 32, 10))
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(64, 3, 32, 32, generator=g), torch.randint(0, 10, (64,), generator=g)
    cfg = TrainConfig(arch="test", lr=lr, batch_size=16, augment=True, epochs=2, seed=3)
    return fit(model, cfg, x, y, torch.device("cpu"), augmenter(True, randaug), triangular_lr, workers=workers)


@pytest.mark.parametrize("randaug", [False, True])
def test_fed_loop_gives_the_same_model_with_0_and_2_workers(randaug: bool) -> None:
    (a, ha), (b, hb) = run(0, randaug), run(2, randaug)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
    assert [h["train_loss"] for h in ha] == [h["train_loss"] for h in hb]
    c, _ = run(None, randaug)  # the in-loop batches: another (seeded) stream, another model
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))


def test_non_finite_loss_names_epoch_and_step_in_the_fed_loop() -> None:
    with pytest.raises(FloatingPointError, match=r"epoch 1, step \d+"):
        run(1, lr=1e30)
