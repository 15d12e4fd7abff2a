"""Decoders as upstream: AugReg's images bit-exact against TensorFlow's ``decode_jpeg`` (run in its
own process, helpers.tf_decode) on JPEGs written by Pillow and by TensorFlow (4:4:4, 4:2:2, 4:2:0,
odd sizes, progressive, grayscale, CMYK, YCCK, EXIF-rotated, real photos), PNGs and the files
tensorflow_datasets rewrites; soups' images against the CLIP transform of open_clip on
``PIL.Image.open(...).convert("RGB")``."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import simplejpeg
import torch
from PIL import Image
from sklearn.datasets import load_sample_image

from sharpgen.data.decode import adobe_marker, decode_as_tensorflow
from sharpgen.data.sources.imagenet import clip_transform, vit_jax_transform

TESTS = Path(__file__).parent
QUIET_TF = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
SIZE = 32
SAMPLES = {name: load_sample_image(name) for name in ("china.jpg", "flower.jpg")}  # real photos, 427 x 640


def _crop(h: int, w: int, photo: str = "china.jpg", top: int = 150, left: int = 200) -> np.ndarray:
    return SAMPLES[photo][top:top + h, left:left + w]


def _strip_adobe(data: bytes) -> bytes:
    """The JPEG without its Adobe APP14 segment (Pillow writes one in every CMYK file)."""
    i = data.index(b"\xff\xee")
    return data[:i] + data[i + 2 + int.from_bytes(data[i + 2:i + 4], "big"):]


def _jpeg(image: Image.Image, **kwargs) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", **kwargs)
    return out.getvalue()


def write_files(folder: Path) -> None:
    """The test images (TensorFlow adds its own JPEGs, helpers.tf_decode)."""
    for sub, label in ((0, "444"), (1, "422"), (2, "420")):
        for h, w in ((37, 53), (1, 1), (17, 3), (3, 17), (64, 48)):
            (folder / f"pil_{label}_{h}x{w}.jpg").write_bytes(_jpeg(Image.fromarray(_crop(h, w)), quality=90, subsampling=sub))
    (folder / "pil_420_progressive.jpg").write_bytes(_jpeg(Image.fromarray(_crop(41, 67)), quality=80, progressive=True))
    for h, w in ((37, 53), (1, 1), (17, 3)):
        (folder / f"gray_{h}x{w}.jpg").write_bytes(_jpeg(Image.fromarray(_crop(h, w)).convert("L"), quality=90))
    cmyk = Image.fromarray(_crop(37, 53)).convert("CMYK")
    (folder / "cmyk_adobe.jpg").write_bytes(_jpeg(cmyk, quality=90))
    (folder / "cmyk_plain.jpg").write_bytes(_strip_adobe(_jpeg(cmyk, quality=90)))
    (folder / "ycck.jpg").write_bytes(simplejpeg.encode_jpeg(np.asarray(cmyk), 90, "CMYK", "420"))
    intact = _jpeg(Image.fromarray(_crop(37, 53)), quality=90)
    (folder / "extraneous_bytes.jpg").write_bytes(intact[:-2] + bytes(3) + intact[-2:])  # libjpeg warns, decodes
    (folder / "trailing_bytes.jpg").write_bytes(intact + bytes(10))
    scan = intact.index(b"\xff\xda")
    (folder / "stray_bytes_before_scan.jpg").write_bytes(intact[:scan] + b"\x00\x11" + intact[scan:])
    for name, keep in (("truncated_half.jpg", len(intact) // 2), ("truncated_end.jpg", len(intact) - 2)):
        (folder / name).write_bytes(intact[:keep])
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees; TensorFlow ignores it
    (folder / "exif_rotated.jpg").write_bytes(_jpeg(Image.fromarray(_crop(37, 53)), quality=90, exif=exif))
    for photo, image in SAMPLES.items():
        stem = photo.removesuffix(".jpg")
        (folder / f"photo_{stem}.jpg").write_bytes(_sample_file(photo).read_bytes())  # the shipped file itself
        for quality, sub in ((75, 2), (95, 0)):
            (folder / f"photo_{stem}_q{quality}_{sub}.jpg").write_bytes(_jpeg(Image.fromarray(image), quality=quality, subsampling=sub))
    # the files tensorflow_datasets rewrites: one of its CMYK names, its PNG name
    (folder / "n01739381_1309.JPEG").write_bytes(_jpeg(Image.fromarray(_crop(45, 31)).convert("CMYK"), quality=90))
    Image.fromarray(_crop(45, 31, "flower.jpg")).save(folder / "n02105855_2933.JPEG", "PNG")
    for mode in ("RGB", "RGBA", "P", "L", "LA"):
        Image.fromarray(_crop(29, 23, "flower.jpg")).convert(mode).save(folder / f"png_{mode}.png")
    palette = Image.fromarray(_crop(29, 23, "flower.jpg")).convert("P")
    palette.save(folder / "png_P_transparent.png", transparency=3)
    palette.convert("RGB").quantize(16).save(folder / "png_P_4bit.png", bits=4)


def _sample_file(name: str) -> Path:
    import sklearn.datasets

    return Path(sklearn.datasets.__file__).parent / "images" / name


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, dict[str, np.ndarray]]:
    """The test files and TensorFlow's decoding of each (plus vit_jax's input at SIZE px)."""
    folder = tmp_path_factory.mktemp("images")
    write_files(folder)
    out = folder.parent / "tf.npz"
    subprocess.run([sys.executable, "-m", "helpers.tf_decode", str(folder), str(SIZE), str(out)], cwd=TESTS, check=True,
                   env=QUIET_TF)
    return folder, dict(np.load(out))


def _difference(a: np.ndarray, b: np.ndarray) -> tuple[int, float]:
    if a.shape != b.shape:
        return -1, float("nan")
    d = np.abs(a.astype(int) - b.astype(int))
    return int(d.max()), float(d.mean())


def test_decoded_bit_exact_as_tensorflow(reference) -> None:
    folder, tf = reference
    files = sorted(folder.iterdir())
    refused = sorted(k.removesuffix(".refused") for k in tf if k.endswith(".refused"))
    assert refused == ["truncated_end.jpg", "truncated_half.jpg"]
    for name in refused:
        with pytest.raises(ValueError, match=rf"{name}: cannot decode this JPEG \(the data ends before"):
            decode_as_tensorflow(folder / name)
    files = [path for path in files if path.name not in refused]
    assert len(files) == sum(k.endswith(".decoded") for k in tf) >= 40
    print(f"\n{'file':<32} {'Pillow vs TF max/mean':>24} {'ours vs TF max/mean':>22}")
    pillow_off = []
    for path in files:
        expected = tf[f"{path.name}.decoded"]
        ours = decode_as_tensorflow(path)
        with Image.open(path) as image:
            pillow = np.asarray(image.convert("RGB"))
        p_max, p_mean = _difference(pillow, expected)
        o_max, o_mean = _difference(ours, expected)
        print(f"{path.name:<32} {p_max:>14} / {p_mean:.4f} {o_max:>12} / {o_mean:.4f}")
        assert ours.dtype == np.uint8 and ours.shape == expected.shape, path.name
        assert np.array_equal(ours, expected), f"{path.name}: max difference {o_max}"
        pillow_off.append(p_max != 0)
    # the comparison sees the accurate IDCT: Pillow's decoding differs on the photos
    assert all(off for path, off in zip(files, pillow_off) if path.name.startswith("photo_"))


def test_vit_jax_input_as_tensorflow(reference) -> None:
    """The whole AugReg preprocessing (decode, tf.image.resize, scaling) against TensorFlow's."""
    folder, tf = reference
    transform = vit_jax_transform(SIZE)
    worst = 0.0
    for path in sorted(p for p in folder.iterdir() if f"{p.name}.input" in tf):
        x = transform(path, 0)
        assert x.shape == (3, SIZE, SIZE) and x.dtype == torch.float32
        worst = max(worst, float(np.abs(x.numpy() - tf[f"{path.name}.input"]).max()))
    print(f"vit_jax input: max |ours - TensorFlow| = {worst:.2e}")
    assert worst <= 1e-5


def test_adobe_marker_and_bad_files(tmp_path: Path) -> None:
    cmyk = _jpeg(Image.new("CMYK", (8, 8), (10, 20, 30, 40)))
    assert adobe_marker(cmyk) and not adobe_marker(_strip_adobe(cmyk))
    assert not adobe_marker(_jpeg(Image.new("RGB", (8, 8))))
    (tmp_path / "a.gif").write_bytes(b"GIF89a" + bytes(20))
    with pytest.raises(ValueError, match=r"a\.gif: neither JPEG nor PNG"):
        decode_as_tensorflow(tmp_path / "a.gif")
    Image.new("I;16", (4, 4)).save(tmp_path / "deep.png")
    with pytest.raises(ValueError, match=r"deep\.png: a I;16 PNG of bit depth 16"):
        decode_as_tensorflow(tmp_path / "deep.png")


@pytest.mark.parametrize("mode", ["P", "RGBA", "L", "LA", "CMYK", "RGB"])
def test_clip_input_converts_to_rgb_when_opened(tmp_path: Path, mode: str) -> None:
    """soups: the image converted to RGB as it is opened (torchvision's ImageFolder loader), then
    the CLIP transform; the reference is open_clip's eval transform on ``Image.open(f).convert("RGB")``."""
    from open_clip import image_transform
    from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD

    size = 224
    source = Image.fromarray(SAMPLES["flower.jpg"][100:300, 150:450]).convert(mode)
    if "A" in mode:  # a varying alpha: Pillow's resize weighs colours by it, convert("RGB") drops it
        source.putalpha(Image.linear_gradient("L").resize(source.size))
    path = tmp_path / ("image.jpg" if mode == "CMYK" else "image.png")
    source.save(path, quality=90) if mode == "CMYK" else source.save(path)
    upstream = image_transform(size, is_train=False, mean=OPENAI_DATASET_MEAN, std=OPENAI_DATASET_STD)
    with Image.open(path) as image:
        expected = upstream(image.convert("RGB"))
    ours = clip_transform(size)(path, 0)
    diff = float((ours - expected).abs().max())
    with Image.open(path) as image:  # converted after resize and crop instead (the order before)
        late = float((upstream(image) - expected).abs().max())
    print(f"soups {mode}: max |ours - open_clip| = {diff:.1e}; converted after resize and crop: {late:.2f}")
    assert diff <= 1e-6
    if mode != "L" and mode != "RGB":  # there the order matters: the test can fail
        assert late > 0.01
