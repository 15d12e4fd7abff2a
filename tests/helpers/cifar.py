"""Tiny CIFAR-10 and CIFAR-10-C files in their published formats (random images)."""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path

import numpy as np

from sharpgen.data.sources.cifar10 import CORRUPTIONS


def _batch(n: int, rng: np.random.Generator) -> dict:
    return {b"batch_label": b"x", b"labels": [int(v) for v in rng.integers(0, 10, n)],
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"filenames": [b"f"] * n}


def cifar10_archive(path: Path, per_batch: int = 4, test: int = 3, seed: int = 0) -> dict[str, dict]:
    """Write ``cifar-10-python.tar.gz`` with 5 training batches of ``per_batch`` images and a
    test batch of ``test``; returns the batches by member name."""
    rng = np.random.default_rng(seed)
    batches = {f"data_batch_{i}": _batch(per_batch, rng) for i in range(1, 6)} | {"test_batch": _batch(test, rng)}
    with tarfile.open(path, "w:gz") as tar:
        for name, batch in batches.items():
            blob = pickle.dumps(batch)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return batches


def cifar10c_folder(root: Path, per_severity: int) -> np.ndarray:
    """Write ``<corruption>.npy`` (5 severities of ``per_severity`` images) and ``labels.npy``.

    Image j of severity s of corruption k has channel 0 = s, channel 1 = k, channel 2 = j (mod 256),
    so every loaded image tells where it came from. Returns the labels.
    """
    root.mkdir(parents=True, exist_ok=True)
    labels = np.tile(np.arange(per_severity, dtype=np.uint8) % 10, 5)
    np.save(root / "labels.npy", labels)
    for k, name in enumerate(CORRUPTIONS):
        arr = np.zeros((5 * per_severity, 32, 32, 3), dtype=np.uint8)
        arr[..., 0] = np.repeat(np.arange(1, 6, dtype=np.uint8), per_severity)[:, None, None]
        arr[..., 1] = k
        arr[..., 2] = (np.tile(np.arange(per_severity), 5) % 256).astype(np.uint8)[:, None, None]
        np.save(root / f"{name}.npy", arr)
    return labels
