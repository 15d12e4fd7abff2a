"""The paper's four settings in the workflow: sharpness subsets, evaluation sets, published metrics.

Pure functions (no file writing); ``sharpgen.cli_paper`` does the I/O. Data layouts under
``<setting>.data_root`` (config), checked before any reading so that a missing or wrong root
fails with the config key and the expected layout:

- augreg, soups: ImageNet (ILSVRC2012) in ImageFolder layout, ``<data_root>/train/<wnid>/*.JPEG``
  (sorted wnids = labels 0..999).
- bert: GLUE MNLI, ``<data_root>/train.tsv`` (and ``dev_matched.tsv``; HANS
  ``heuristics_evaluation_set.txt`` for evaluation).
- cifar: the training images come from the downloaded ``cifar-10-python.tar.gz``; ``data_root``
  is only read by ``metrics: evaluate``: ``<data_root>/CIFAR-10-C/<corruption>.npy`` and
  ``labels.npy``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from sharpgen.datasets import SHIFT_PREFIX, Splits

LAYOUTS = {
    "augreg": "ImageNet train in ImageFolder layout: <data_root>/train/<wnid>/*.JPEG",
    "soups": "ImageNet train in ImageFolder layout: <data_root>/train/<wnid>/*.JPEG",
    "bert": "GLUE MNLI: <data_root>/train.tsv (and dev_matched.tsv)",
    "cifar": "CIFAR-10-C: <data_root>/CIFAR-10-C/<corruption>.npy and labels.npy",
}

# Published accuracy columns of each model sheet -> METRICS split names. "test" is the
# in-distribution test set (ImageNet val, MNLI dev matched, CIFAR-10 test); no collection
# publishes training accuracy except optionally the user's CIFAR-10 CSV.
PUBLISHED = {
    "augreg": {"imagenet_acc": "test"},
    "soups": {
        "imagenet_acc": "test",
        "imagenetv2_acc": f"{SHIFT_PREFIX}imagenetv2",
        "imagenet_r_acc": f"{SHIFT_PREFIX}imagenet_r",
        "imagenet_sketch_acc": f"{SHIFT_PREFIX}imagenet_sketch",
        "objectnet_acc": f"{SHIFT_PREFIX}objectnet",
        "imagenet_a_acc": f"{SHIFT_PREFIX}imagenet_a",
    },
    "bert": {
        "mnli_dev_acc": "test",
        **{
            f"hans_{h}_{label}": f"{SHIFT_PREFIX}hans_{h}_{label}"
            for h in ("lexical", "subsequence", "constituent")
            for label in ("entailed", "nonentailed")
        },
    },
    "cifar": {"train_acc": "train", "test_acc": "test", "cifar10c_acc": f"{SHIFT_PREFIX}cifar10c"},
}


def missing_root(setting: str, root: str | None, needed: Path | None = None) -> FileNotFoundError:
    what = "is not set" if not root else f"= {root!r}: {needed or root} does not exist"
    return FileNotFoundError(f"config {setting}.data_root {what}; expected {LAYOUTS[setting]}")


def check_root(setting: str, root: str | None, relative: str) -> Path:
    """``<root>/<relative>`` when it exists, else an error naming ``<setting>.data_root``."""
    if not root:
        raise missing_root(setting, root)
    path = Path(root) / relative
    if not path.exists():
        raise missing_root(setting, root, path)
    return path


def imagenet_subset(setting: str, root: str | None, arch: str, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first n ImageNet training images with the eval transform of ``arch`` (timm data config)."""
    from sharpgen.data.sources.imagenet import imagenet_train_subset
    from sharpgen.settings.arch import create_timm

    train = check_root(setting, root, "train")
    model = create_timm(arch)
    size = getattr(getattr(model, "patch_embed", None), "img_size", None)
    if size is not None:  # an img_size override changes the input, not timm's pretrained_cfg
        model.pretrained_cfg = {**model.pretrained_cfg, "input_size": (3, *size)}
    x, y = imagenet_train_subset(train, model, n)
    if len(y) < n:
        raise ValueError(f"{setting}.sharpness.n = {n} but {train} has only {len(y)} images; lower it")
    return x, y


def mnli_subset(root: str | None, vocab: Path, n: int, max_length: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    """The first n MNLI training pairs, tokenised with a checkpoint's vocab into (n, 3, L)."""
    from sharpgen.data.sources.mnli import encode, read_mnli, tokenizer

    pairs = read_mnli(check_root("bert", root, "train.tsv"))
    if len(pairs) < n:
        raise ValueError(f"bert.sharpness.n = {n} but MNLI train has only {len(pairs)} pairs; lower it")
    return encode(pairs.head(n), tokenizer(vocab), max_length)


def bert_vocab(checkpoint: Path) -> Path:
    """``vocab.txt`` of a McCoy et al. checkpoint (the .zip is extracted next to itself once)."""
    from sharpgen.settings.bert import find_file, unpack

    checkpoint = Path(checkpoint)
    return find_file(unpack(checkpoint) if checkpoint.suffix == ".zip" else checkpoint, "vocab.txt")


def cifar_subset(archive: Path, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first n CIFAR-10 training images in [0, 1] (the models normalise inside)."""
    from sharpgen.data.sources.cifar10 import cifar10

    x, y = cifar10(archive, "train", n)
    if len(y) < n:
        raise ValueError(f"cifar.sharpness.n = {n} but {archive} has only {len(y)} training images; lower it")
    return x, y


def cifar_splits(archive: Path, root: str | None, severity: int = 5, seed: int = 0) -> Splits:
    """Evaluation sets of the cifar setting: CIFAR-10 train and test, CIFAR-10-C mixed (severity 5)."""
    from sharpgen.data.sources.cifar10 import cifar10, cifar10c_mixed

    corrupted = check_root("cifar", root, "CIFAR-10-C")
    return {
        "train": cifar10(archive, "train"),
        "test": cifar10(archive, "test"),
        f"{SHIFT_PREFIX}cifar10c": cifar10c_mixed(corrupted, severity=severity, seed=seed),
    }


def published_metrics(setting: str, sheet: pd.DataFrame, index: pd.DataFrame | None = None) -> pd.DataFrame:
    """The METRICS rows of a collection's published accuracies: error = 1 - accuracy.

    loss is NaN (no collection publishes it) and n_examples is null (-> Parquet null): the
    published numbers do not say on how many examples they were measured. augreg: the
    accuracies come from the AugReg ``index`` (its ``adapt_final_test``, ImageNet val), matched
    on ``adapt_filename``, when given. Models or splits without a published value get no row.
    """
    columns = PUBLISHED[setting]
    sheet = sheet.copy()
    if setting == "augreg" and index is not None:
        acc = index.drop_duplicates("adapt_filename").set_index("adapt_filename")["adapt_final_test"].astype(float)
        sheet["imagenet_acc"] = sheet["model_id"].map(acc)
        unmatched = sorted(sheet.loc[sheet["imagenet_acc"].isna(), "model_id"])
        if unmatched:
            raise ValueError(f"augreg models not found in the AugReg index.csv: {unmatched[:3]} ({len(unmatched)} in all)")
    present = {c: s for c, s in columns.items() if c in sheet}
    if "test" not in present.values() or sheet[[c for c, s in present.items() if s == "test"]].isna().all().all():
        raise ValueError(
            f"setting {setting!r} has no published test accuracy in its model sheet; use {setting}.metrics: evaluate"
        )
    long = sheet.melt(id_vars=["model_id"], value_vars=list(present), var_name="column", value_name="accuracy")
    long = long.dropna(subset=["accuracy"])
    accuracy = long["accuracy"].astype(float)
    if ((accuracy < 0) | (accuracy > 1)).any():
        raise ValueError(f"setting {setting!r}: published accuracies must be fractions in [0, 1]")
    return pd.DataFrame({
        "setting": setting,
        "model_id": long["model_id"].astype(str).to_numpy(),
        "split": long["column"].map(present).to_numpy(),
        "loss": np.nan,
        "error": (1.0 - accuracy).to_numpy(),
        "n_examples": pd.array([pd.NA] * len(long), dtype="Int64"),
    })
