"""One sharpness job: every definition for one model, each (model, definition) pair cached.

A job computes all configured definitions of one model, so imports, the checkpoint and the
data subset are loaded once. Each finished pair is written at once, atomically, to a cache
file keyed by a fingerprint of the checkpoint, the data subset and the engine's source. A
rerun (more radii, a killed job) recomputes only the pairs whose cache entry is missing or
stale; nothing already computed is lost.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import platform
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import torch
from torch import Tensor, nn

import sharpgen
from sharpgen import tables
from sharpgen.sharpness import Definition, compute_sharpness, split_batches
from sharpgen.sharpness.result import BatchResult, SharpnessResult


def engine_fingerprint() -> str:
    """Hash of the engine's source files: a changed engine invalidates cached pairs."""
    digest = hashlib.sha256()
    package = importlib.resources.files("sharpgen.sharpness")
    for name in sorted(p.name for p in package.iterdir() if p.name.endswith(".py")):
        digest.update(name.encode())
        digest.update(package.joinpath(name).read_bytes())
    return digest.hexdigest()[:16]


def pair_fingerprint(checkpoint_sha: str, subset_sha: str, engine: str) -> str:
    return hashlib.sha256(f"{checkpoint_sha}:{subset_sha}:{engine}".encode()).hexdigest()[:24]


def result_row(setting: str, model_id: str, result: SharpnessResult, fingerprint: str) -> dict:
    """One row of the sharpness table."""
    d = result.definition
    return {
        "setting": setting,
        "model_id": model_id,
        "definition": d.id,
        "variant": d.variant,
        **d.as_dict(),
        **result.summary(),
        "torch_version": torch.__version__,
        "sharpgen_version": f"{sharpgen.__version__} (python {platform.python_version()})",
        "fingerprint": fingerprint,
    }


def cached_row(path: Path, fingerprint: str) -> dict | None:
    """The cached row at ``path`` if it exists, is readable and has this fingerprint."""
    if not path.exists():
        return None
    try:
        frame = tables.read(path, tables.SHARPNESS)
    except ValueError:
        return None
    if len(frame) != 1 or frame.loc[0, "fingerprint"] != fingerprint:
        return None
    return frame.iloc[0].to_dict()


def run(
    setting: str,
    model_id: str,
    model: nn.Module,
    data: tuple[Tensor, Tensor],
    definitions: list[Definition],
    cache_dir: Path,
    fingerprint: str,
    device: torch.device,
    log: Callable[[str], None],
    on_batch: Callable[[BatchResult, int], None] | None = None,
) -> pd.DataFrame:
    """Sharpness of ``model`` under every definition; returns one row per definition."""
    x, y = data
    rows = []
    for i, definition in enumerate(definitions):
        path = cache_dir / f"{definition.id}.parquet"
        row = cached_row(path, fingerprint)
        if row is not None:
            log(f"[{i + 1}/{len(definitions)}] {definition.id}: cached ({row['sharpness_loss']:.6g})")
        else:
            result = compute_sharpness(model, split_batches(x, y, definition.m), definition, device=device, on_batch=on_batch)
            row = result_row(setting, model_id, result, fingerprint)
            tables.write(pd.DataFrame([row]), path, tables.SHARPNESS, "sharpness")
            log(
                f"[{i + 1}/{len(definitions)}] {definition.id}: sharpness {row['sharpness_loss']:.6g} "
                f"(error {row['sharpness_error']:+.4f}) in {row['seconds']:.2f} s on {row['device']}"
            )
        rows.append(row)
    return pd.DataFrame(rows)
