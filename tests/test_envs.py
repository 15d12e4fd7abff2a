"""envs/sharpgen.yaml (for --sdm conda) pins the same packages as pyproject.toml."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def normalise(requirement: str) -> tuple[str, str]:
    name, spec = re.match(r"^([A-Za-z0-9_.-]+)\s*(.*)$", requirement.strip()).groups()
    return name.lower().replace("_", "-"), spec.replace(" ", "")


def test_conda_environment_pins_match_the_package_dependencies() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = dict(normalise(r) for r in project["dependencies"])
    env = yaml.safe_load((REPO / "envs" / "sharpgen.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    pinned = dict(normalise(r) for r in pip if not r.startswith("-e"))
    assert pinned == wanted
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    assert project["requires-python"] == ">=3.11" and python == "python=3.11"
    assert "-e .." in pip  # sharpgen itself, so that `python -m sharpgen` works in the environment
