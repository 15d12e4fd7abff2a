"""Rule of workflow/rules/measures.smk: every configured baseline/curvature measure for some models.

Like the sharpness job: each finished (model, measure) pair is written at once to a cache file
keyed by a fingerprint of the checkpoint, the data subset and the measures' source, so adding a
measure computes only it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from sharpgen import datasets, settings, tables
from sharpgen.loading import load_checked
from sharpgen.log import log
from sharpgen.measures import Measure, compute_measure


def measures_fingerprint(checkpoint_sha: str, subset_sha: str, source: bytes) -> str:
    """The cache key of one (model, measure) pair: checkpoint, data and the measure's source
    (``Measure.source``: a changed function invalidates its own values only)."""
    return hashlib.sha256(f"{checkpoint_sha}:{subset_sha}:".encode() + source).hexdigest()[:24]


def cached_value(path: Path, fingerprint: str) -> dict | None:
    """The cached row at ``path`` if it exists, is readable and has this fingerprint."""
    if not path.exists():
        return None
    try:
        frame = tables.read(path, tables.MEASURES)
    except ValueError:
        return None
    if len(frame) != 1 or frame.loc[0, "fingerprint"] != fingerprint:
        return None
    return frame.iloc[0].to_dict()


def measures(
    setting: str, models: Sequence[tuple[str, Path, str]], subset: Path, chosen: Sequence[Measure], cache_dir: Path, threads: int, out: Path
) -> None:
    """Every measure for every model (id, checkpoint, arch) -> ``out``, each pair cached."""
    from sharpgen.device import job_device
    from sharpgen.download import sha256_file
    from sharpgen.progress import Progress

    device = job_device(threads)
    setting_ = settings.get(setting)
    data = datasets.load(subset)["sharpness"]
    subset_sha = sha256_file(subset)
    log(f"{len(models)} models x {len(chosen)} measures, device {device}")
    pairs = Progress("pairs", len(models) * len(chosen), unit="pair")
    rows = []
    sources = {measure.id: measure.source() for measure in chosen}
    for model_id, path, arch in models:
        checkpoint_sha = sha256_file(path)
        model, init = None, None
        for measure in chosen:
            fingerprint = measures_fingerprint(checkpoint_sha, subset_sha, sources[measure.id])
            cache = cache_dir / model_id / f"{measure.id}.parquet"
            row = cached_value(cache, fingerprint)
            if row is None:
                if model is None:
                    model = load_checked(setting, model_id, path, arch, device)
                    init = setting_.load_initial_state(path)
                start = time.perf_counter()
                value = compute_measure(measure, model, data, init)
                row = {"setting": setting, "model_id": model_id, "measure": measure.id, "kind": measure.kind,
                       "value": value, "seconds": time.perf_counter() - start, "fingerprint": fingerprint}
                tables.write(pd.DataFrame([row]), cache, tables.MEASURES, "measures")
                pairs.step(f"{model_id} {measure.id} = {value:.6g} in {row['seconds']:.2f} s")
            else:
                pairs.step(f"{model_id} {measure.id}: cached ({row['value']:.6g})")
            rows.append(row)
    columns = tables.MEASURES.names
    tables.write(pd.DataFrame(rows, columns=columns), out, tables.MEASURES, "measures")
