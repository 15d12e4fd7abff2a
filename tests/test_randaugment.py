"""The authors' RandAugment port against PIL called directly with the values of their randomaug.py.

The expected values below are written as the authors' file computes them, (M / 30) * (high - low)
+ low with their ranges, independently of ``sharpgen.data.randaugment.OPERATIONS``; each
operation is checked against a direct call of PIL's ImageOps / ImageEnhance / Image.transform (or
NumPy, for SolarizeAdd, Cutout and the translations) at M = 14 (their training) and other M.
"""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest
import torch
from PIL import Image, ImageEnhance, ImageOps

from sharpgen.data.cifar_augment import augmenter, image_randaugment
from sharpgen.data.randaugment import OPERATIONS, AuthorsRandAugment, apply_operation

MAGNITUDES = (0, 5, 14, 25, 30)


def their_value(low: float, high: float, m: float) -> float:
    return (float(m) / 30) * float(high - low) + low


@pytest.fixture(scope="module")
def image() -> Image.Image:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    pixels[:8, :8] = 255  # a bright corner and a dark one, so the point operations see both ends
    pixels[-8:, -8:] = 3
    return Image.fromarray(pixels)


def signed(value: float, seed: int) -> float:
    """Their sign rule: negative when random.random() > 0.5 (first draw of the stream)."""
    return -value if random.Random(seed).random() > 0.5 else value


def run(img: Image.Image, name: str, m: float, seed: int) -> np.ndarray:
    return np.asarray(apply_operation(img, name, m, random.Random(seed)))


def test_the_operation_list_and_ranges_are_the_authors():
    assert [(op.name, op.low, op.high) for op in OPERATIONS] == [
        ("AutoContrast", 0, 1), ("Equalize", 0, 1), ("Invert", 0, 1), ("Rotate", 0, 30), ("Posterize", 0, 4),
        ("Solarize", 0, 256), ("SolarizeAdd", 0, 110), ("Color", 0.1, 1.9), ("Contrast", 0.1, 1.9),
        ("Brightness", 0.1, 1.9), ("Sharpness", 0.1, 1.9), ("ShearX", 0.0, 0.3), ("ShearY", 0.0, 0.3),
        ("Cutout", 0, 40), ("TranslateX", 0.0, 100), ("TranslateY", 0.0, 100),
    ]
    assert {op.name for op in OPERATIONS if op.signed} == {"Rotate", "ShearX", "ShearY", "TranslateX", "TranslateY"}


@pytest.mark.parametrize("m", MAGNITUDES)
@pytest.mark.parametrize("name", ["AutoContrast", "Equalize", "Invert"])
def test_parameter_free_operations(image, name, m):
    expected = {"AutoContrast": ImageOps.autocontrast, "Equalize": ImageOps.equalize, "Invert": ImageOps.invert}[name](image)
    np.testing.assert_array_equal(run(image, name, m, 0), np.asarray(expected))


@pytest.mark.parametrize("m", MAGNITUDES)
@pytest.mark.parametrize("name, enhancer", [("Color", ImageEnhance.Color), ("Contrast", ImageEnhance.Contrast),
                                             ("Brightness", ImageEnhance.Brightness), ("Sharpness", ImageEnhance.Sharpness)])
def test_enhancements_use_the_unsigned_factor(image, name, enhancer, m):
    factor = their_value(0.1, 1.9, m)  # 0.94 at M = 14, never flipped
    np.testing.assert_array_equal(run(image, name, m, 1), np.asarray(enhancer(image).enhance(factor)))


@pytest.mark.parametrize("m", MAGNITUDES)
def test_posterize_keeps_at_least_one_bit(image, m):
    bits = max(1, int(their_value(0, 4, m)))  # 1 bit at M = 14
    np.testing.assert_array_equal(run(image, "Posterize", m, 0), np.asarray(ImageOps.posterize(image, bits)))
    if m == 14:
        assert bits == 1 and set(np.unique(run(image, "Posterize", m, 0))) <= {0, 128}


@pytest.mark.parametrize("m", MAGNITUDES)
def test_solarize_threshold(image, m):
    expected = ImageOps.solarize(image, their_value(0, 256, m))
    np.testing.assert_array_equal(run(image, "Solarize", m, 0), np.asarray(expected))


@pytest.mark.parametrize("m", MAGNITUDES)
def test_solarize_add_adds_clips_truncates_then_solarizes_at_128(image, m):
    added = np.clip(np.asarray(image).astype(int) + their_value(0, 110, m), 0, 255).astype(np.uint8)
    expected = ImageOps.solarize(Image.fromarray(added), 128)
    np.testing.assert_array_equal(run(image, "SolarizeAdd", m, 0), np.asarray(expected))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("m", MAGNITUDES)
def test_rotate_and_shear_with_a_random_sign(image, m, seed):
    degrees = signed(their_value(0, 30, m), seed)
    np.testing.assert_array_equal(run(image, "Rotate", m, seed), np.asarray(image.rotate(degrees)))
    shear = signed(their_value(0.0, 0.3, m), seed)
    np.testing.assert_array_equal(run(image, "ShearX", m, seed),
                                  np.asarray(image.transform(image.size, Image.AFFINE, (1, shear, 0, 0, 1, 0))))
    np.testing.assert_array_equal(run(image, "ShearY", m, seed),
                                  np.asarray(image.transform(image.size, Image.AFFINE, (1, 0, 0, shear, 1, 0))))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("m", MAGNITUDES)
def test_translations_are_absolute_pixels(image, m, seed):
    shift = signed(their_value(0.0, 100, m), seed)
    for name, coefficients in (("TranslateX", (1, 0, shift, 0, 1, 0)), ("TranslateY", (1, 0, 0, 0, 1, shift))):
        expected = np.asarray(image.transform(image.size, Image.AFFINE, coefficients))
        np.testing.assert_array_equal(run(image, name, m, seed), expected)
    # independently of PIL: nearest neighbour of the pixel centre, black outside the frame
    pixels, k = np.asarray(image), int(np.floor(0.5 + shift))
    expected = np.zeros_like(pixels)
    cols = np.arange(32) + k
    inside = (cols >= 0) & (cols < 32)
    expected[:, inside] = pixels[:, cols[inside]]
    np.testing.assert_array_equal(run(image, "TranslateX", m, seed), expected)
    if m >= 14:  # 46.7 pixels or more: a 32x32 image leaves the frame
        assert not run(image, "TranslateX", m, seed).any() and not run(image, "TranslateY", m, seed).any()


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("m", MAGNITUDES)
def test_cutout_paints_their_grey_square(image, m, seed):
    side = their_value(0, 40, m)  # 18.7 pixels at M = 14
    twin = random.Random(seed)
    cx, cy = 1.0 + (32 - 1.0) * twin.random(), 1.0 + (32 - 1.0) * twin.random()  # np.random.uniform(32): in [1, 32]
    x0, y0 = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
    x1, y1 = int(min(32, x0 + side)), int(min(32, y0 + side))  # ImageDraw.rectangle: both ends inclusive
    expected = np.asarray(image).copy()
    expected[y0 : y1 + 1, x0 : x1 + 1] = (125, 123, 114)
    np.testing.assert_array_equal(run(image, "Cutout", m, seed), expected)


def test_sampling_draws_n_operations_with_replacement_as_random_choices(image):
    for seed in range(20):
        for n in (1, 2, 3):
            transform, twin = AuthorsRandAugment(n, 14, seed=seed), random.Random(seed)
            out = image
            for op in twin.choices(OPERATIONS, k=n):  # their sampling: random.choices, then each op in order
                out = apply_operation(out, op.name, 14, twin)
            np.testing.assert_array_equal(np.asarray(transform(image)), np.asarray(out))


def test_sampling_is_uniform_over_the_16_operations_and_repeats_operations():
    rng = random.Random(0)
    draws = [tuple(op.name for op in rng.choices(OPERATIONS, k=2)) for _ in range(16_000)]
    counts = Counter(name for pair in draws for name in pair)
    assert set(counts) == {op.name for op in OPERATIONS}
    assert all(abs(c - 2_000) < 5 * 2_000**0.5 for c in counts.values())
    repeats = sum(a == b for a, b in draws) / len(draws)
    assert abs(repeats - 1 / 16) < 0.01  # with replacement: the same op twice in 1/16 of the images


def test_a_seed_reproduces_the_transform_and_reseed_restarts_it(image):
    a, b = AuthorsRandAugment(2, 14, seed=7), AuthorsRandAugment(2, 14, seed=7)
    first = [np.asarray(a(image)) for _ in range(10)]
    assert all(np.array_equal(x, np.asarray(b(image))) for x in first)
    a.reseed(7)
    assert np.array_equal(np.asarray(a(image)), first[0])
    assert not all(np.array_equal(first[0], x) for x in first[1:])


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="magnitude"):
        AuthorsRandAugment(2, 31)
    with pytest.raises(ValueError, match="unknown operation"):
        apply_operation(Image.new("RGB", (4, 4)), "Warp", 14, random.Random(0))
    with pytest.raises(ValueError, match="randaug_impl"):
        augmenter(True, True, "timm")


def test_batch_augmenter_is_per_image_and_reproducible_from_the_generator():
    x = torch.rand(6, 3, 32, 32)
    x = (x * 255).round() / 255
    augment = augmenter(True, True, "authors")
    out1 = augment(x, torch.Generator().manual_seed(3))
    out2 = augment(x, torch.Generator().manual_seed(3))
    assert out1.shape == x.shape and torch.equal(out1, out2)
    assert not torch.equal(out1, augment(x, torch.Generator().manual_seed(4)))
    assert isinstance(image_randaugment("authors", seed=0), AuthorsRandAugment)
    assert type(image_randaugment("torchvision")).__name__ == "RandAugment"
