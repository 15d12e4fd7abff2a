"""Calibration: the noise path is measured and the faster one recorded; the paper's calibrations
are written under exactly the keys that `estimate` looks up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from sharpgen.calibration import VMAP_MARGIN, calibrate_model, choose_path
from sharpgen.estimate import calibration_plan, estimate, merged_config

ROOT = Path(__file__).resolve().parents[1]


def test_choose_path_takes_vmap_only_when_clearly_faster() -> None:
    assert choose_path({1: 1.0}) == 1
    assert choose_path({1: 1.0, 8: 1.0}) == 1
    assert choose_path({1: 1.0, 8: VMAP_MARGIN * 1.01}) == 1
    assert choose_path({1: 1.0, 8: 0.5}) == 8
    assert choose_path({1: 0.5, 8: 1.0}) == 1


def test_calibration_on_cpu_times_the_loop_and_records_it() -> None:
    """On CPU the loop, whatever the timing: two runs of a study must give the same values."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))
    lines: list[str] = []
    c = calibrate_model(model, lambda m: (torch.randn(m, 6), torch.arange(m) % 3), [8, 16], torch.device("cpu"), 0.5, log=lines.append)
    assert sorted(c.forward_seconds) == sorted(c.batch_samples) == sorted(c.noise_sample_seconds) == [8, 16]
    assert set(c.batch_samples.values()) == {1}
    assert all(s > 0 for s in c.noise_sample_seconds.values())
    assert all("loop" in line and "vmap" not in line for line in lines)


def test_paper_plan_names_the_arch_strings_the_config_plans() -> None:
    planned = calibration_plan(merged_config([ROOT / "config/paper.yaml"], {"grid": "paper"}), ROOT / "workflow/schemas/setting.schema.yaml")
    archs = {arch for arch, _ in planned["cifar"].values()}
    assert archs == {"sharpgen.networks.architectures:preact_resnet18(width=64)", "sharpgen.networks.architectures:simple_vit(width=512)"}
    assert all(ms == [16, 32, 64, 128] for _, ms in planned["cifar"].values())


@pytest.mark.slow
def test_calibrate_paper_writes_what_estimate_looks_up(tmp_path, monkeypatch) -> None:
    """bench/calibrate_paper.py on the cifar setting (at m = 16 only and without the noise path,
    to stay small; the noise path has its own test above), then
    estimate finds both CIFAR calibrations and says they lack the other planned m."""
    out = tmp_path / "calibration"
    subprocess.run(
        [sys.executable, str(ROOT / "bench/calibrate_paper.py"), "--configfile", "config/paper.yaml", "--config", "grid=paper",
         "--settings", "cifar", "--m", "16", "--device", "cpu", "--no-noise-path", "--out", str(out)],
        cwd=ROOT, check=True, capture_output=True, text=True, timeout=600,
    )
    monkeypatch.chdir(ROOT)
    table = estimate(merged_config([Path("config/paper.yaml")], {"grid": "paper"}), out).set_index("setting")
    missing = table.loc["cifar", "missing_calibrations"]
    assert missing.count("lacks m = [32, 64, 128]") == 2 and "preact_resnet18-width-64" in missing
    assert table.loc["augreg", "missing_calibrations"] != ""
    written = sorted(p.stem for p in (out / "cifar").glob("*.json"))
    planned = calibration_plan(merged_config([Path("config/paper.yaml")], {"grid": "paper"}))
    assert written == sorted(planned["cifar"])
