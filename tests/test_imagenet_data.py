"""ImageNet data of augreg and soups: the class-stratified sharpness sample and its table, the
upstream preprocessing (against transcriptions of vit_jax's and CLIP's transforms), and the
evaluation sets in their real on-disk layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sharpgen.data.sample import histogram, stratified
from sharpgen.data.sources.imagenet import heads, imagenet_dataset, imagenet_subset, objectnet_classes, wnids

ARCH = "vit_base_patch16_224?img_size=32&embed_dim=24&depth=1&num_heads=2"
CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073])
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711])
SIZES = [(40, 48), (61, 33), (32, 32), (17, 90), (50, 37)]  # (height, width)


def _image(rng, folder: Path, name: str, size: tuple[int, int], mode: str = "RGB") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    array = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    Image.fromarray(array).convert(mode).save(folder / name, quality=90)


def imagenet_train(root: Path, classes: int = 4, per_class: int = 5) -> Path:
    """``root/train/<wnid>/*.JPEG`` for the first ``classes`` ILSVRC2012 wnids."""
    rng = np.random.default_rng(0)
    for c in range(classes):
        for i in range(per_class):
            _image(rng, root / "train" / wnids()[c], f"{wnids()[c]}_{i}.JPEG", SIZES[(c + i) % len(SIZES)],
                   "L" if (c, i) == (1, 2) else "RGB")
    return root


# --- transcriptions of the upstream transforms (PIL + numpy, written after the upstream code) ---

def clip_reference(path: Path, size: int) -> np.ndarray:
    """openai/CLIP clip.py _transform: Resize(size, BICUBIC) of the short side, CenterCrop(size),
    convert RGB, ToTensor, Normalize(CLIP mean/std)."""
    image = Image.open(path)
    w, h = image.size
    if w <= h:
        new = (size, int(size * h / w))
    else:
        new = (int(size * w / h), size)
    if new != (w, h):
        image = image.resize(new, Image.BICUBIC)
    w, h = image.size
    top, left = int(round((h - size) / 2.0)), int(round((w - size) / 2.0))
    image = image.crop((left, top, left + size, top + size)).convert("RGB")
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
    """vit_jax input_pipeline (eval): decode RGB, tf.image.resize to size x size, (x - 127.5) / 127.5."""
    x = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)
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
def test_subset_is_class_stratified_and_preprocessed_as_upstream(tmp_path: Path, capsys, setting, transform, reference, tol) -> None:
    root = imagenet_train(tmp_path)
    x, y, table = imagenet_subset(setting, {"data_root": str(root)}, ARCH, n=8, seed=0, transform=transform)
    assert np.bincount(y.numpy()).tolist() == [2, 2, 2, 2]  # the first 8 of the sorted folder were 5 x class 0, 3 x class 1
    assert table["label"].tolist() == y.tolist() and table["position"].tolist() == list(range(8))
    assert all(s.startswith(f"train/{wnids()[l]}/") for s, l in zip(table["source"], table["label"]))
    assert "class histogram: 4 classes, 2-2 examples per class; n01440764: 2" in capsys.readouterr().err
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
    objectnet = h["shift:objectnet"]
    assert int(objectnet.classes.max()) == 112 and (objectnet.classes >= 0).sum() == 125
    logits = torch.zeros(2, 1000)
    alarm = objectnet_classes()["alarm_clock"]  # analog clock 409, digital clock 530
    logits[0, alarm[1]] = 5.0
    logits[1, 0] = 9.0  # tench: not an ObjectNet class, never predicted
    logits[1, objectnet_classes()["banana"][0]] = 1.0
    assert objectnet.predict(logits).tolist() == [0, list(objectnet_classes()).index("banana")]
    assert float(objectnet.project(logits)[0, 0]) == 5.0


def _shift_sets(root: Path) -> None:
    rng = np.random.default_rng(1)
    size = (36, 30)
    for c in range(3):
        _image(rng, root / "val" / wnids()[c], f"ILSVRC2012_val_{c}.JPEG", size)
        _image(rng, root / "imagenetv2-matched-frequency-format-val" / str(c), f"{c}.jpeg", size)
        _image(rng, root / "sketch" / wnids()[c], f"sketch_{c}.JPEG", size)
    for name in ("imagenet_r", "imagenet_a"):
        folder = {"imagenet_r": "imagenet-r", "imagenet_a": "imagenet-a"}[name]
        for w in wnids(f"{name}_wnids.txt")[:2]:
            _image(rng, root / folder / w, f"{name}_{w}.jpg", size)
    for name in ("alarm_clock", "banana", "air_freshener"):  # air_freshener has no ImageNet class
        _image(rng, root / "objectnet-1.0" / "images" / name, f"{name}.png", size)


def test_evaluation_sets_in_their_real_layouts(tmp_path: Path) -> None:
    root = imagenet_train(tmp_path, classes=3, per_class=2)
    _shift_sets(root)
    block = {"data_root": str(root), "train_n": 4, "shifts": ["imagenetv2", "imagenet_r", "imagenet_sketch", "imagenet_a", "objectnet"]}
    splits, index = imagenet_dataset("soups", block, ARCH, 0, "clip")
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
    _image(np.random.default_rng(0), tmp_path / "val" / wnids()[0], "a.JPEG", (8, 8))
    with pytest.raises(FileNotFoundError, match=r"soups\.data_root.*imagenet-a/"):
        imagenet_dataset("soups", {"data_root": str(tmp_path), "shifts": ["imagenet_a"]}, ARCH, 0, "clip")


def test_unknown_class_folder_is_an_error(tmp_path: Path) -> None:
    _image(np.random.default_rng(0), tmp_path / "train" / "n00000000", "a.JPEG", (8, 8))
    with pytest.raises(ValueError, match=r"n00000000.*wnid"):
        imagenet_subset("augreg", {"data_root": str(tmp_path)}, ARCH, n=1, seed=0, transform="vit_jax")
