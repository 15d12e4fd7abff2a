"""Run the real workflow on a copy of the repository's workflow files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "tests" / "configs" / "tiny.yaml"


NO_THEORY = "\n# the tests' working copy: the theory studies run only where a test asks for them\ntheory: {dln: {run: false}, scale: {run: false}, linear: {run: false}}\n"


def workdir(path: Path, theory: bool = False) -> Path:
    """A fresh working directory holding the workflow (Snakefile, rules, config). The theory
    studies (about a minute of CPU, the same in every study) are off unless ``theory``."""
    path.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "Snakefile", path / "Snakefile")
    (path / "config.yaml").write_text((REPO / "config.yaml").read_text() + ("" if theory else NO_THEORY))
    shutil.copytree(REPO / "workflow", path / "workflow", dirs_exist_ok=True)
    shutil.copytree(REPO / "envs", path / "envs", dirs_exist_ok=True)
    return path


PLUGINS = REPO / "tests" / "helpers" / "plugins"


def env(**extra: str) -> dict[str, str]:
    """The test's environment, with this interpreter's bin first (jobs call `python -m sharpgen`)."""
    out = dict(os.environ)
    out["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{out.get('PATH', '')}"
    return out | extra


def snakemake_command(*args: str, profile: str = "local", cores: int = 2) -> list[str]:
    return [sys.executable, "-m", "snakemake", "--workflow-profile", str(REPO / "workflow" / "profiles" / profile), "--cores", str(cores), *args]


def snakemake(
    cwd: Path, *args: str, profile: str = "local", check: bool = True, timeout: float = 900, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    result = subprocess.run(
        snakemake_command(*args, profile=profile), cwd=cwd, env=env(**(extra_env or {})), capture_output=True, text=True, timeout=timeout
    )
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-6000:]}")
    return result


def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run as {rule: count}."""
    counts: dict[str, int] = {}
    lines = output.splitlines()
    if "Job stats:" not in lines:
        return counts
    start = lines.index("Job stats:") + 3
    for line in lines[start:]:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            break
        if parts[0] != "total":
            counts[parts[0]] = int(parts[1])
    return counts
