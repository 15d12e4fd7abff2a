"""ImageNet data of augreg and soups: the class-stratified sharpness sample and its table, the
upstream preprocessing (against transcriptions of vit_jax's and CLIP's transforms), and the
evaluation sets in their real on-disk layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sharpgen import datasets, settings
from sharpgen.data.decode import decode_as_tensorflow
from sharpgen.data.sample import histogram, stratified
from sharpgen.data.sources.imagenet import heads, imagenet_dataset, imagenet_subset, objectnet_classes, wnids
from helpers.imagenet import image, imagenet_train, shift_sets

ARCH = "vit_base_patch16_224?img_size=32&embed_dim=24&depth=1&num_heads=2"
CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073])
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711])
# --- transcriptions of the upstream transforms (PIL + numpy, written after the upstream code) ---

def clip_reference(path: Path, size: int) -> np.ndarray:
    """torchvision's ImageFolder loader (open, convert RGB), then openai/CLIP clip.py _transform:
    Resize(size, BICUBIC) of the short side, CenterCrop(size), ToTensor, Normalize(CLIP mean/std)."""
    image = Image.open(path).convert("RGB")
    w, h = image.size
    if w <= h:
        new = (size, int(size * h / w))
    else:
        new = (int(size * w / h), size)
    if new != (w, h):
        image = image.resize(new, Image.BICUBIC)
    w, h = image.size
    top, left = int(round((h - size) / 2.0)), int(round((w - size) / 2.0))
    image = image.crop((left, top, left + size, top + size))
    x = np.asarray(image, dtype=np.float64) / 255.0
    return ((x - CLIP_MEAN) / CLIP_STD).transpose(2, 0, 1)


def _tf_bilinear_axis(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """tf.image.resize (bilinear, half-pixel centres): lower/upper source index and lerp per output."""
    scale = in_size / out_size
    source = (np.arange(out_size) + 0.5) * scale - 0.5
    floor = np.floor(source)
    lower = np.maximum(floor, 0).astype(int)
    upper = np.minimum(np.ceil(source), in_size - 1).astype(int)
    return lower, upper, source - floor


def vit_jax_reference(path: Path, size: int) -> np.ndarray:
    """vit_jax input_pipeline (eval): decode as TensorFlow (checked bit-exact in test_decode.py),
    tf.image.resize to size x size, (x - 127.5) / 127.5."""
    x = decode_as_tensorflow(path).astype(np.float64)
    h, w = x.shape[:2]
    ylo, yhi, ylerp = _tf_bilinear_axis(h, size)
    xlo, xhi, xlerp = _tf_bilinear_axis(w, size)
    top = x[ylo][:, xlo] + (x[ylo][:, xhi] - x[ylo][:, xlo]) * xlerp[None, :, None]
    bottom = x[yhi][:, xlo] + (x[yhi][:, xhi] - x[yhi][:, xlo]) * xlerp[None, :, None]
    out = top + (bottom - top) * ylerp[:, None, None]
    return ((out - 127.5) / 127.5).transpose(2, 0, 1)


def test_stratified_sample_is_balanced_seeded_and_mixed() -> None:
    labels = np.repeat(np.arange(1000), 13)
    rows = stratified(labels, 1024, seed=0)
    counts = np.bincount(labels[rows], minlength=1000)
    assert len(set(rows.tolist())) == 1024 and counts.min() == 1 and counts.max() == 2 and (counts == 2).sum() == 24
    assert (stratified(labels, 1024, seed=0) == rows).all() and not (stratified(labels, 1024, seed=1) == rows).all()
    assert len(set(labels[rows[:128]].tolist())) > 100  # the first m-batch mixes classes
    skewed = np.array([0] * 60 + [1] * 30 + [2] * 10)
    assert np.bincount(skewed[stratified(skewed, 10, seed=3)]).tolist() == [6, 3, 1]
    assert histogram([0, 0, 1], ["tench", "goldfish"]) == "class histogram: 2 classes, 1-2 examples per class; tench: 2, goldfish: 1"


@pytest.mark.parametrize(("setting", "transform", "reference", "tol"), [
    ("soups", "clip", clip_reference, 1e-6), ("augreg", "vit_jax", vit_jax_reference, 1e-5),
])
def test_subset_is_class_stratified_and_preprocessed_as_upstream(tmp_path: Path, setting, transform, reference, tol) -> None:
    root = imagenet_train(tmp_path)
    x, y, table = imagenet_subset(setting, {"data_root": str(root)}, ARCH, n=8, seed=0, transform=transform)
    assert np.bincount(y.numpy()).tolist() == [2, 2, 2, 2]  # the first 8 of the sorted folder were 5 x class 0, 3 x class 1
    assert table["label"].tolist() == y.tolist() and table["position"].tolist() == list(range(8))
    assert all(s.startswith(f"train/{wnids()[l]}/") for s, l in zip(table["source"], table["label"]))
    assert histogram(y.numpy()) == "class histogram: 4 classes, 2-2 examples per class; 0: 2, 1: 2, 2: 2, 3: 2"
    assert x.shape == (8, 3, 32, 32) and x.dtype == torch.float32
    for i, source in enumerate(table["source"]):
        expected = reference(root / source, 32)
        assert np.abs(x[i].numpy() - expected).max() < tol, source
    again = imagenet_subset(setting, {"data_root": str(root)}, ARCH, n=8, seed=0, transform=transform)
    assert again[2].equals(table) and torch.equal(again[0], x)


def test_heads_restrict_and_pool_logits() -> None:
    h = heads()
    assert set(h) == {"shift:imagenet_r", "shift:imagenet_a", "shift:objectnet"}
    for name in ("imagenet_r", "imagenet_a"):
        classes = h[f"shift:{name}"].classes
        assert (classes >= 0).sum() == 200 and sorted(classes[classes >= 0].tolist()) == list(range(200))
    assert int(h["shift:imagenet_r"].classes[1]) == 0  # n01443537 goldfish, the first ImageNet-R class
    # the class index lists of model soups' evaluation code (wise-ft imagenet_r.py / imagenet_a.py)
    assert torch.nonzero(h["shift:imagenet_r"].classes >= 0).squeeze(1)[:6].tolist() == [1, 2, 4, 6, 8, 9]
    assert torch.nonzero(h["shift:imagenet_a"].classes >= 0).squeeze(1)[-4:].tolist() == [984, 986, 987, 988]
    objectnet = h["shift:objectnet"]
    assert int(objectnet.classes.max()) == 112 and (objectnet.classes >= 0).sum() == 125
    logits = torch.zeros(2, 1000)
    alarm = objectnet_classes()["alarm_clock"]  # analog clock 409, digital clock 530
    logits[0, alarm[1]] = 5.0
    logits[1, 0] = 9.0  # tench: not an ObjectNet class, never predicted
    logits[1, objectnet_classes()["banana"][0]] = 1.0
    assert objectnet.predict(logits).tolist() == [0, list(objectnet_classes()).index("banana")]
    assert float(objectnet.project(logits)[0, 0]) == 5.0


def test_evaluation_sets_in_their_real_layouts(tmp_path: Path) -> None:
    root = imagenet_train(tmp_path, classes=3, per_class=2)
    shift_sets(root)
    block = {"data_root": str(root), "train_n": 4, "shifts": ["imagenetv2", "imagenet_r", "imagenet_sketch", "imagenet_a", "objectnet"]}
    splits, index = imagenet_dataset("soups", block, ARCH, "clip")
    assert list(splits) == ["train", "test", "shift:imagenetv2", "shift:imagenet_r", "shift:imagenet_sketch", "shift:imagenet_a", "shift:objectnet"]
    assert splits["test"][1].tolist() == [0, 1, 2] and splits["shift:imagenetv2"][1].tolist() == [0, 1, 2]
    assert splits["shift:imagenet_sketch"][1].tolist() == [0, 1, 2] and len(splits["train"][1]) == 4
    assert splits["shift:imagenet_r"][1].tolist() == [0, 1] and splits["shift:imagenet_a"][1].tolist() == [0, 1]
    names = list(objectnet_classes())
    assert splits["shift:objectnet"][1].tolist() == [names.index("alarm_clock"), names.index("banana")]
    assert set(index["split"]) == set(splits) and index[index["split"] == "shift:objectnet"]["source"].str.startswith("objectnet-1.0/images/").all()
    # ObjectNet: 2 px border cut before the transform, as the ObjectNet evaluation code does
    png = root / "objectnet-1.0" / "images" / "banana" / "banana.png"
    with Image.open(png) as image:
        image.crop((2, 2, image.width - 2, image.height - 2)).save(tmp_path / "cut.png")
    got = splits["shift:objectnet"][0][1].numpy()
    assert np.abs(got - clip_reference(tmp_path / "cut.png", 32)).max() < 1e-6


def test_missing_shift_set_names_the_config_key_and_layout(tmp_path: Path) -> None:
    image(np.random.default_rng(0), tmp_path / "val" / wnids()[0], "a.JPEG", (8, 8))
    with pytest.raises(FileNotFoundError, match=r"soups\.data_root.*imagenet-a/"):
        imagenet_dataset("soups", {"data_root": str(tmp_path), "shifts": ["imagenet_a"]}, ARCH, "clip")


def test_unknown_class_folder_is_an_error(tmp_path: Path) -> None:
    image(np.random.default_rng(0), tmp_path / "train" / "n00000000", "a.JPEG", (8, 8))
    with pytest.raises(ValueError, match=r"n00000000.*wnid"):
        imagenet_subset("augreg", {"data_root": str(tmp_path)}, ARCH, n=1, seed=0, transform="vit_jax")


def test_soups_evaluates_a_clip_checkpoint_on_val_and_every_shift(tmp_path: Path) -> None:
    """soups `metrics: evaluate` jobs on a model-soups state dict (1,000-class head), tiny sets."""
    from helpers.clip import EMBED, TINY, clip_state
    from sharpgen import tables
    from sharpgen.jobs.data import prepare_dataset
    from sharpgen.jobs.metrics import evaluate_models

    gen = torch.Generator().manual_seed(0)
    state = clip_state(gen) | {"classification_head.weight": torch.randn(1000, EMBED, generator=gen),
                               "classification_head.bias": torch.randn(1000, generator=gen)}
    torch.save(state, tmp_path / "model_1.pt")
    root = shift_sets(imagenet_train(tmp_path / "imagenet", classes=3, per_class=2))
    block = {"data_root": str(root), "arch": TINY, "train_n": 3}
    prepare_dataset("soups", block, {}, tmp_path / "dataset.pt", tmp_path / "split.parquet")
    evaluate_models("soups", [("model_1", tmp_path / "model_1.pt", TINY)], tmp_path / "dataset.pt", 1, tmp_path / "m.parquet")
    metrics = tables.read(tmp_path / "m.parquet", tables.METRICS).set_index("split")
    assert metrics["n_examples"].to_dict() == {"shift:imagenet_a": 2, "shift:imagenet_r": 2, "shift:imagenet_sketch": 3,
                                               "shift:imagenetv2": 3, "shift:objectnet": 2, "test": 3, "train": 3}
    model = settings.get("soups").load_model(tmp_path / "model_1.pt", TINY, torch.device("cpu"))
    splits = datasets.load(tmp_path / "dataset.pt")
    x, y = splits["shift:objectnet"]
    with torch.no_grad():
        logits = model(x)
    names = list(objectnet_classes())
    pooled = torch.stack([logits[:, list(objectnet_classes()[n])].amax(dim=1) for n in names], dim=1)  # wise-ft's project_logits
    expected = float(torch.nn.functional.cross_entropy(pooled, y))
    assert abs(metrics.loc["shift:objectnet", "loss"] - expected) < 1e-5
    assert metrics.loc["shift:objectnet", "error"] == float((pooled.argmax(1) != y).float().mean())
    x, y = splits["shift:imagenet_r"]
    with torch.no_grad():
        restricted = model(x)[:, heads()["shift:imagenet_r"].classes >= 0]  # imagenet-r eval.py: output[:, mask]
    assert abs(metrics.loc["shift:imagenet_r", "loss"] - float(torch.nn.functional.cross_entropy(restricted, y))) < 1e-5
