"""Rule of workflow/rules/sharpness.smk: every definition for some models, each pair cached.

A job computes all configured definitions of its models, so imports, checkpoints and the
data subset are loaded once. Each finished pair is written at once, atomically, to a cache
file keyed by a content fingerprint: the loaded model's tensors, its architecture string, the
data subset's tensors, the definition and the engine's source (never file bytes or paths, so
moving or rebuilding identical files keeps the cache). Every cached row carries a digest of
its own values; a row that does not match it (edited by hand, damaged) is recomputed. A rerun
(more radii, a killed job) recomputes only the pairs whose cache entry is missing or stale;
nothing already computed is lost.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import os
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from torch import Tensor, nn

import sharpgen
from sharpgen import datasets, tables
from sharpgen.atomic import atomic_path
from sharpgen.loading import load_checked
from sharpgen.log import log
from sharpgen.sharpness import Definition, compute_sharpness, split_batches
from sharpgen.sharpness.result import BatchResult, SharpnessResult

SLOW_BATCH_SECONDS = 2.0  # per-batch log lines only where batches are slow (large models)


def engine_fingerprint() -> str:
    """Hash of the engine's source files: a changed engine invalidates cached pairs."""
    digest = hashlib.sha256()
    package = importlib.resources.files("sharpgen.sharpness")
    for name in sorted(p.name for p in package.iterdir() if p.name.endswith(".py")):
        digest.update(name.encode())
        digest.update(package.joinpath(name).read_bytes())
    return digest.hexdigest()[:16]


ROW_DIGEST = b"sharpgen_row_digest"  # Parquet metadata key of a cached row's own digest


def tensor_digest(tensors: dict[str, Tensor]) -> str:
    """SHA-256 of named tensors' names, dtypes, shapes and values (not of any file's bytes)."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)}:".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def pair_fingerprint(model_digest: str, arch: str, subset_digest: str, definition: Definition, engine: str) -> str:
    """The cache key of one (model, definition) pair: everything its result depends on."""
    key = json.dumps([model_digest, arch, subset_digest, definition.as_dict(), engine], sort_keys=True)
    return hashlib.sha256(key.encode()).hexdigest()[:24]


def _row_digest(table: pa.Table) -> str:
    """SHA-256 of a one-row table's values (floats exactly, via their repr)."""
    values = table.replace_schema_metadata(None).to_pylist()
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=repr).encode()).hexdigest()


def write_cached(row: dict, path: Path) -> None:
    """Write one pair's row atomically, with the digest of its values in the file's metadata."""
    frame = pd.DataFrame([row])[tables.SHARPNESS.names]
    table = pa.Table.from_pandas(frame, schema=tables.SHARPNESS, preserve_index=False)
    table = table.replace_schema_metadata({ROW_DIGEST: _row_digest(table).encode()})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


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
    """The cached row at ``path`` if it exists, is readable, matches its own digest and has this fingerprint."""
    if not path.exists():
        return None
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid):
        return None
    recorded = (table.schema.metadata or {}).get(ROW_DIGEST)
    if table.num_rows != 1 or not table.schema.equals(tables.SHARPNESS, check_metadata=False):
        return None
    if recorded is None or recorded.decode() != _row_digest(table):
        log(f"{path}: cached row does not match its digest (edited or damaged); recomputing it")
        return None
    frame = table.to_pandas()
    if frame.loc[0, "fingerprint"] != fingerprint:
        return None
    return frame.iloc[0].to_dict()


SUBSET_KEYS = {"train": "sharpness", "test": "sharpness_test", "augmented": "sharpness_augmented"}


def sharpness_data(splits: Mapping[str, tuple[Tensor, Tensor]]) -> dict[str, tuple[Tensor, Tensor]]:
    """Definition ``data`` -> (inputs, labels): the subset, and where the setting offers them its
    test examples and its augmented subset (appendix H)."""
    return {source: splits[key] for source, key in SUBSET_KEYS.items() if key in splits}


def batches_for(data: Mapping[str, tuple[Tensor, Tensor]], definition: Definition, setting: str) -> list[tuple[Tensor, Tensor]]:
    """The m-batches of ``definition`` from the examples its ``data`` names (test examples cut
    to a multiple of m); a clear error where the setting has none."""
    if definition.data not in data:
        raise ValueError(
            f"definition {definition.id}: setting {setting!r} offers no {definition.data!r} examples for sharpness "
            f"(its subset has {sorted(data)}); remove data: {definition.data} from config {setting}.grids, "
            "or delete results/data/<setting>/subset.pt if it predates test/augmented subsets"
        )
    x, y = data[definition.data]
    k = len(y) // definition.m * definition.m if definition.data == "test" else len(y)
    if k == 0:
        raise ValueError(f"definition {definition.id}: {len(y)} {definition.data} examples hold no batch of m = {definition.m}")
    return split_batches(x[:k], y[:k], definition.m)


def model_sharpness(
    setting: str,
    model_id: str,
    model: nn.Module,
    data: Mapping[str, tuple[Tensor, Tensor]],
    definitions: list[Definition],
    cache_dir: Path,
    fingerprint: Callable[[Definition], str],
    device: torch.device,
    step: Callable[[str], None],
    on_batch: Callable[[BatchResult, int], None] | None = None,
    noise_path: Callable[[int], int] = lambda m: 1,
    precision: str = "fp32",
) -> pd.DataFrame:
    """Sharpness of ``model`` under every definition (each on the examples its ``data`` names:
    a key of ``data``); returns one row per definition. ``noise_path(m)``: the average case's
    ``batch_samples`` at batch size m (1 = the loop)."""
    rows = []
    for i, definition in enumerate(definitions):
        path = cache_dir / f"{definition.id}.parquet"
        key = fingerprint(definition)
        row = cached_row(path, key)
        if row is not None:
            step(f"[{i + 1}/{len(definitions)}] {definition.id}: cached ({row['sharpness_loss']:.6g})")
        else:
            result = compute_sharpness(
                model, batches_for(data, definition, setting), definition, device=device, on_batch=on_batch,
                batch_samples=noise_path(definition.m), precision=precision,
            )
            row = result_row(setting, model_id, result, key)
            write_cached(row, path)
            step(
                f"[{i + 1}/{len(definitions)}] {definition.id}: sharpness {row['sharpness_loss']:.6g} "
                f"(error {row['sharpness_error']:+.4f}) in {row['seconds']:.2f} s on {row['device']}"
            )
        rows.append(row)
    return pd.DataFrame(rows)


def _since_process_start() -> float:
    """Seconds since this process was created (interpreter start and imports included)."""
    import psutil

    return time.time() - psutil.Process().create_time()


def sharpness(
    setting: str,
    models: Sequence[tuple[str, Path, str]],
    subset: Path,
    definitions: Sequence[Definition],
    cache_dir: Path,
    threads: int,
    out: Path,
    only: Mapping[str, Sequence[int]] | None = None,
    calibrations: Sequence[Path] = (),
    precision: str = "fp32",
) -> None:
    """Every definition for every model (id, checkpoint, arch) on the subset -> ``out``;
    ``only`` restricts a model to some definitions (by position), e.g. its family's grid.
    ``calibrations`` (``<arch key>.json``): each architecture's average case evaluates its noise
    samples the way its calibration measured faster on this device (the loop without one)."""
    from sharpgen.cost import Calibration
    from sharpgen.plan import arch_key

    from sharpgen.device import job_device
    from sharpgen.progress import Progress

    device = job_device(threads, precision)
    data = sharpness_data(datasets.load(subset))
    digests = {source: tensor_digest({"x": x, "y": y}) for source, (x, y) in data.items()}
    engine = engine_fingerprint()
    if precision != "fp32":  # other values: fp32 pairs in the cache do not stand for them
        engine += f"+{precision}"
    fixed = _since_process_start()
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    log(
        f"{len(models)} models x {len(definitions)} definitions on {len(data['train'][1])} examples, device {device}"
        + (f" (CUDA_VISIBLE_DEVICES={visible})" if visible is not None else "")
    )
    only = dict(only or {})
    unknown = sorted(set(only) - {m for m, _, _ in models})
    if unknown:
        raise ValueError(f"--only names models {unknown} that are not among --model")
    chosen = {m: [definitions[i] for i in only[m]] if m in only else list(definitions) for m, _, _ in models}
    pairs = Progress("pairs", sum(len(d) for d in chosen.values()), unit="pair")

    def on_batch(result: BatchResult, total: int) -> None:
        if result.seconds >= SLOW_BATCH_SECONDS:
            log(f"    batch {result.index + 1}/{total}: sharpness {result.sharpness_loss:.5g} in {result.seconds:.1f} s")

    measured = {p.stem: Calibration.read(p) for p in calibrations}
    for key, c in sorted(measured.items()):
        paths = ", ".join(f"m={m}: {'loop' if k == 1 else f'vmap {k}'}" for m, k in sorted(c.batch_samples.items()))
        log(f"noise path of {key} (calibrated on {c.device}): {paths or 'loop (not measured)'}")

    frames, compute = [], 0.0
    for i, (model_id, path, arch) in enumerate(models):
        t0 = time.perf_counter()
        model = load_checked(setting, model_id, path, arch, device)
        model_digest = tensor_digest(model.state_dict())

        def fingerprint(definition: Definition, model_digest: str = model_digest, arch: str = arch) -> str:
            return pair_fingerprint(model_digest, arch, digests.get(definition.data, ""), definition, engine)

        fixed += time.perf_counter() - t0
        log(f"model {i + 1}/{len(models)}: {model_id}")
        t1 = time.perf_counter()
        frames.append(
            model_sharpness(
                setting, model_id, model, data, chosen[model_id], cache_dir / model_id, fingerprint, device,
                pairs.step, on_batch, _noise_path(measured.get(arch_key(arch)), device), precision,
            )
        )
        compute += time.perf_counter() - t1
    tables.write(pd.concat(frames, ignore_index=True), out, tables.SHARPNESS, "sharpness")
    share = fixed / compute if compute > 0 else float("inf")
    log(
        f"fixed cost {fixed:.2f} s (interpreter start, imports, data and model loading), "
        f"sharpness compute {compute:.2f} s, fixed/compute = {share:.2f}"
    )


def _noise_path(calibration, device: torch.device) -> Callable[[int], int]:
    """``batch_samples`` by m from a calibration made on this kind of device, else the loop."""
    if calibration is None or torch.device(calibration.device).type != device.type:
        return lambda m: 1
    return calibration.noise_path


def calibrate(
    setting: str, model: tuple[str, Path, str], subset: Path, ms: Sequence[int], threads: int, out: Path, precision: str = "fp32",
) -> None:
    """Measure load time, one forward and one forward+backward pass at each m, peak memory, and
    the faster way to evaluate noise samples (loop or vmap) on this job's device."""
    from sharpgen.calibration import calibrate_model
    from sharpgen.device import job_device

    device = job_device(threads, precision)
    model_id, path, arch = model
    start = time.perf_counter()
    net = load_checked(setting, model_id, path, arch, device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    load = time.perf_counter() - start
    x, y = datasets.load(subset)["sharpness"]
    calibration = calibrate_model(
        net, lambda m: (x[:m], y[:m]), ms, device, load, log=lambda line: log(f"{model_id} ({arch}) {line}"), precision=precision)
    with atomic_path(out) as tmp:
        tmp.write_text(calibration.to_json())
