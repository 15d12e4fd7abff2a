"""A broken config fails before any job runs, with a message naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.workflow import snakemake, workdir

CASES = {
    "unknown top-level key": ("colour: red\n", "colour"),
    "bad grid name": ("grid: nope\n", "nope"),
    "negative learning rate": ("digits:\n  zoo:\n    families:\n      resnet: {lr: [-0.1]}\n", "lr"),
    "unknown algorithm": (
        "digits:\n  grids:\n    default:\n      - {algorithm: mean, norm: l2, variant: adaptive, rho: 0.1}\n",
        "algorithm",
    ),
    "n not a multiple of m": ("digits:\n  sharpness:\n    n: 1000\n", "multiple"),
    "unknown definition field": (
        "digits:\n  grids:\n    default:\n      - {algorithm: worst, norm: l2, variant: adaptive, rho: 0.1, radius: 2}\n",
        "radius",
    ),
    "bad device": ("device: tpu\n", "device"),
    "unknown setting": ("settings: [mnist]\n", "mnist"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_broken_config_fails_before_any_job_naming_the_key(name: str, tmp_path: Path) -> None:
    text, key = CASES[name]
    root = workdir(tmp_path)
    (root / "broken.yaml").write_text(text)
    result = snakemake(root, "--configfile", "broken.yaml", "-n", check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert key in output, output[-3000:]
    assert not (root / "results").exists()
