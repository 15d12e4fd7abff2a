"""The cost model: pass counts equal the engine's, predictions follow the calibration, requests grow per attempt."""

from __future__ import annotations

import pytest
import torch

from sharpgen import cost
from sharpgen.sharpness import Definition, compute_sharpness, split_batches

DEFINITIONS = [
    Definition("worst", "linf", rho=0.01, m=16, n_iters=5),
    Definition("worst", "l2", rho=0.01, m=8, n_iters=3, init="random", restarts=3),
    Definition("average", "l2", rho=0.01, m=16, n_samples=4),
    Definition("average", "linf", rho=0.01, m=8, n_samples=4, antithetic=True),
]


@pytest.mark.parametrize("definition", DEFINITIONS, ids=lambda d: d.id)
def test_passes_equal_the_engines_counts(definition: Definition) -> None:
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    x, y = torch.randn(32, 4, generator=torch.Generator().manual_seed(0)), torch.arange(32) % 3
    summary = compute_sharpness(model, split_batches(x, y, definition.m), definition, device="cpu").summary()
    assert cost.passes(definition, 32) == cost.Passes(summary["forward_passes"], summary["backward_passes"])


def test_job_prediction_is_start_plus_load_plus_passes_at_the_measured_rates(tmp_path) -> None:
    calibration = cost.Calibration("cuda:0", 2.0, {16: 0.01, 8: 0.004}, {16: 0.03, 8: 0.01}, {16: 900.0, 8: 500.0})
    path = tmp_path / "c.json"
    path.write_text(calibration.to_json())
    assert cost.Calibration.read(path) == calibration
    d = DEFINITIONS[0]  # 64 examples: 4 batches x (6 forwards, 5 of them with a backward)
    assert calibration.seconds(d, 64) == pytest.approx(4 * (1 * 0.01 + 5 * 0.03))
    two_models = cost.job_seconds([(calibration, [d]), (calibration, [d, d])], 64)
    assert two_models == pytest.approx(cost.START_SECONDS + 2 * 2.0 + 3 * 4 * 0.16)
    assert cost.job_memory_mb([(calibration, DEFINITIONS[:2])]) == cost.BASE_MEMORY_MB + 900.0
    assert cost.job_memory_mb([(calibration, DEFINITIONS[1:2])]) == cost.BASE_MEMORY_MB + 500.0


def test_requests_carry_the_safety_factor_and_grow_with_the_attempt() -> None:
    minutes, mem = cost.request(3600.0, 4000.0, attempt=1)
    assert minutes == 60 * cost.RUNTIME_SAFETY and mem == 4000 * cost.MEMORY_SAFETY
    assert cost.request(3600.0, 4000.0, attempt=2) == (2 * minutes, 2 * mem)
    assert cost.request(1.0, 10.0, attempt=1)[0] == 5  # never below five minutes


def test_average_case_is_predicted_on_the_calibrated_noise_path(tmp_path) -> None:
    """With a measured noise path the prediction is clean forwards + samples x its seconds per
    sample; a calibration without one (made before it was measured) reads as the loop."""
    d = DEFINITIONS[2]  # average l2, m = 16, 4 samples
    base = dict(device="cuda:0", load_seconds=0.0, forward_seconds={16: 0.01}, forward_backward_seconds={16: 0.03}, peak_mb={16: 1.0})
    loop = cost.Calibration(**base)
    assert loop.noise_path(16) == 1
    assert loop.seconds(d, 64) == pytest.approx(4 * 5 * 0.01)
    vmap = cost.Calibration(**base, batch_samples={16: 4}, noise_sample_seconds={16: 0.004})
    assert vmap.noise_path(16) == 4
    assert vmap.seconds(d, 64) == pytest.approx(4 * (0.01 + 4 * 0.004))
    assert vmap.seconds(DEFINITIONS[0], 64) == loop.seconds(DEFINITIONS[0], 64)  # worst case: passes
    path = tmp_path / "c.json"
    path.write_text(vmap.to_json())
    assert cost.Calibration.read(path) == vmap
    old = {k: v for k, v in __import__("json").loads(loop.to_json()).items() if k not in ("batch_samples", "noise_sample_seconds")}
    path.write_text(__import__("json").dumps(old))
    assert cost.Calibration.read(path) == loop
