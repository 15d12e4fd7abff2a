"""CIFAR-10 (``cifar-10-python.tar.gz``) and CIFAR-10-C (``<corruption>.npy``) in their published formats."""

from __future__ import annotations

import pickle
import tarfile
from pathlib import Path

import numpy as np
import torch

from sharpgen.settings.cifar import TRAIN_URL

# The only globals a CIFAR-10 python batch refers to: a dict of lists, bytes and NumPy arrays
# (the published files are Python 2 pickles; Python 3 pickles of the same dict add
# ``_codecs.encode`` for bytes and ``_frombuffer`` for arrays). Anything else in a downloaded
# archive is refused before it is resolved, so it never runs.
_NUMPY_CORE = ("numpy.core.multiarray", "numpy._core.multiarray", "numpy.core.numeric", "numpy._core.numeric")
_BATCH_GLOBALS = {
    *((module, name) for module in _NUMPY_CORE for name in ("_reconstruct", "scalar", "_frombuffer")),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _BatchUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals of the CIFAR-10 batch format."""

    def find_class(self, module: str, name: str):
        if (module, name) not in _BATCH_GLOBALS:
            raise pickle.UnpicklingError(f"global {module}.{name} is not part of the CIFAR-10 batch format")
        if module.startswith("numpy.core.") and hasattr(np, "_core"):  # NumPy 2 renamed numpy.core
            module = module.replace("numpy.core.", "numpy._core.")
        return super().find_class(module, name)


def load_batch(fh, source: str) -> dict:
    """One pickled CIFAR-10 batch, refusing every global the format does not use."""
    try:
        batch = _BatchUnpickler(fh, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError) as error:
        raise ValueError(f"{source}: not a CIFAR-10 python batch ({error}); delete the archive and rerun") from None
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise ValueError(f"{source}: not a CIFAR-10 python batch (expected a dict with data and labels)")
    return batch

CIFAR10C_URL = "https://zenodo.org/record/2535967/files/CIFAR-10-C.tar"
MEMBER_DIR = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
# the 15 corruptions in the order of robustbench's CORRUPTIONS (robustbench/data.py), which
# ``cifar10c_robustbench`` concatenates before shuffling
CORRUPTIONS = (
    "shot_noise", "motion_blur", "snow", "pixelate", "gaussian_noise", "defocus_blur", "brightness", "fog",
    "zoom_blur", "frost", "glass_blur", "impulse_noise", "contrast", "jpeg_compression", "elastic_transform",
)


def to_tensors(images: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 NHWC images -> float NCHW in [0, 1]; labels -> int64."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255)
    return x, torch.from_numpy(np.asarray(labels, dtype=np.int64))


def read_cifar10(archive: Path, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 32, 32, 3) uint8 and labels (N,) from ``cifar-10-python.tar.gz``."""
    names = {"train": TRAIN_BATCHES, "test": (TEST_BATCH,)}.get(split)
    if names is None:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    images, labels = [], []
    with tarfile.open(archive, "r:gz") as tar:
        for name in names:
            member = f"{MEMBER_DIR}/{name}"
            try:
                fh = tar.extractfile(member)
            except KeyError as err:
                raise ValueError(f"{archive} lacks {member}; is it cifar-10-python.tar.gz from {TRAIN_URL}?") from err
            batch = load_batch(fh, f"{archive}:{member}")
            images.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
            labels.append(np.asarray(batch[b"labels"], dtype=np.int64))
    return np.concatenate(images), np.concatenate(labels)


def read_cifar10c(root: Path, corruption: str, severity: int) -> tuple[np.ndarray, np.ndarray]:
    """Images of one corruption at ``severity`` (1..5) from a CIFAR-10-C directory.

    Each ``<corruption>.npy`` stacks the 5 severities (10k images each in the release, so
    severity 5 = rows 40000:50000); ``labels.npy`` is aligned with it.
    """
    if not 1 <= severity <= 5:
        raise ValueError(f"CIFAR-10-C severity must be 1..5, got {severity}")
    path = Path(root) / f"{corruption}.npy"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; extract CIFAR-10-C ({CIFAR10C_URL}) into {root}")
    images = np.load(path, mmap_mode="r")
    labels = np.load(Path(root) / "labels.npy")
    if images.ndim != 4 or images.shape[1:] != (32, 32, 3) or len(images) % 5 or len(labels) != len(images):
        raise ValueError(f"{path}: expected (5 * N, 32, 32, 3) uint8 aligned with labels.npy, got {images.shape}")
    per = len(images) // 5
    rows = slice((severity - 1) * per, severity * per)
    return np.asarray(images[rows]), labels[rows].astype(np.int64)


def cifar10c_robustbench(root: Path, n: int = 10000, severity: int = 5, pool: int = 15000, seed: int = 0,
                         corruptions: tuple[str, ...] = CORRUPTIONS) -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-10-C as the authors loaded it: robustbench's ``load_cifar10c(n_examples=pool,
    severity, shuffle=True)`` after ``np.random.seed(seed)``, then the first ``n`` images.

    robustbench takes the first ceil(pool / 15) images of each corruption at ``severity`` (labels:
    the first ones of ``labels.npy``), concatenates them in ``corruptions`` order, shuffles with
    the global NumPy generator (``np.random.permutation``; their evaluation script seeds it with
    0 and draws nothing else before) and cuts to ``pool``; their loader then keeps the first
    ``n`` = 10,000. Here the permutation comes from ``np.random.RandomState(seed)``, the same stream.
    """
    per = -(-pool // len(corruptions))
    images, labels = [], []
    for corruption in corruptions:
        x, _ = read_cifar10c(root, corruption, severity)
        if len(x) < per:
            raise ValueError(f"{Path(root) / corruption}.npy has {len(x)} images per severity; {per} are needed for a pool of {pool}")
        images.append(x[:per])
        labels.append(np.load(Path(root) / "labels.npy")[:per].astype(np.int64))
    x, y = np.concatenate(images), np.concatenate(labels)
    order = np.random.RandomState(seed).permutation(len(x))
    x, y = x[order][:pool][:n], y[order][:pool][:n]
    return to_tensors(x, y)


def cifar10(archive: Path, split: str = "train", n: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """First ``n`` (all if None) CIFAR-10 images of ``split`` as float tensors in [0, 1]."""
    images, labels = read_cifar10(archive, split)
    return to_tensors(images[:n], labels[:n])
