"""The authors' RandAugment for CIFAR-10, a per-image transform on PIL images.

The authors train with their own port of RandAugment (``randomaug.py`` of their repository, after
the EfficientNet AutoAugment policy), not torchvision's. What it does, transcribed as facts:

- 16 operations, each with a range [low, high]; N of them are drawn **with replacement**
  (``random.choices``), uniformly, independently per image, and applied in the order drawn.
- Every drawn operation gets the value ``(M / 30) * (high - low) + low``: one fixed value per
  operation for a given M (M = 14 in their training: ``RandAugment(2, 14)``), no random magnitude.
- Rotate, ShearX/Y and TranslateX/Y flip the sign of their value with probability 1/2; the
  enhancement operations (Color, Contrast, Brightness, Sharpness) do not (their factor is
  ``0.1 + 1.8 M / 30``, 0.94 at M = 14: always a slight reduction).
- Translations are in **absolute pixels**, range [0, 100]: 46.7 pixels at M = 14, which moves a
  32x32 image entirely out of the frame (the result is black).
- Posterize keeps ``max(1, int(4 M / 30))`` bits: 1 bit at M = 14 (the range is not reversed as
  in the TF policy, so larger M keeps *more* bits).
- Solarize inverts pixels at or above the threshold ``256 M / 30``; SolarizeAdd adds ``110 M / 30``
  to every channel, clips to [0, 255], truncates to uint8 and solarizes at 128.
- Cutout paints a square of side ``40 M / 30`` in the colour (125, 123, 114); its centre is drawn
  uniformly in [1, size] (their ``np.random.uniform(w)`` passes the size as the *lower* bound and
  1.0 as the upper), the corner is ``int(max(0, centre - side / 2))`` and the far corner
  ``min(size, corner + side)``, drawn with ``ImageDraw.rectangle`` (both ends inclusive).
- Geometric operations use PIL's defaults: nearest-neighbour resampling, black fill.

Their code draws the operations and signs from Python's global ``random`` and the Cutout centre
from NumPy's global generator; here one ``random.Random`` per transform draws all of them, so a
seed reproduces the augmentation (in a DataLoader worker: :meth:`AuthorsRandAugment.reseed`).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageEnhance, ImageOps

MAX_MAGNITUDE = 30
CUTOUT_COLOUR = (125, 123, 114)


@dataclass(frozen=True)
class Operation:
    """One operation of the authors' list: its value range and whether its sign is random."""

    name: str
    low: float
    high: float
    signed: bool = False

    def value(self, magnitude: float) -> float:
        """The value at magnitude M: (M / 30) * (high - low) + low."""
        return (float(magnitude) / MAX_MAGNITUDE) * float(self.high - self.low) + self.low


OPERATIONS = (
    Operation("AutoContrast", 0, 1),
    Operation("Equalize", 0, 1),
    Operation("Invert", 0, 1),
    Operation("Rotate", 0, 30, signed=True),
    Operation("Posterize", 0, 4),
    Operation("Solarize", 0, 256),
    Operation("SolarizeAdd", 0, 110),
    Operation("Color", 0.1, 1.9),
    Operation("Contrast", 0.1, 1.9),
    Operation("Brightness", 0.1, 1.9),
    Operation("Sharpness", 0.1, 1.9),
    Operation("ShearX", 0.0, 0.3, signed=True),
    Operation("ShearY", 0.0, 0.3, signed=True),
    Operation("Cutout", 0, 40),
    Operation("TranslateX", 0.0, 100, signed=True),
    Operation("TranslateY", 0.0, 100, signed=True),
)
BY_NAME = {op.name: op for op in OPERATIONS}


def _affine(img: Image.Image, coefficients: tuple[float, ...]) -> Image.Image:
    return img.transform(img.size, Image.Transform.AFFINE, coefficients)


def _solarize_add(img: Image.Image, addition: float) -> Image.Image:
    lut = [min(int(i + addition), 255) for i in range(256)]  # clip, then truncate to uint8
    return ImageOps.solarize(img.point(lut * len(img.getbands())), 128)


def _cutout(img: Image.Image, side: float, rng: random.Random) -> Image.Image:
    w, h = img.size
    cx, cy = rng.uniform(1.0, w), rng.uniform(1.0, h)
    x0, y0 = int(max(0, cx - side / 2.0)), int(max(0, cy - side / 2.0))
    out = img.copy()
    ImageDraw.Draw(out).rectangle((x0, y0, min(w, x0 + side), min(h, y0 + side)), CUTOUT_COLOUR)
    return out


_APPLY: dict[str, Callable[[Image.Image, float, random.Random], Image.Image]] = {
    "AutoContrast": lambda img, v, rng: ImageOps.autocontrast(img),
    "Equalize": lambda img, v, rng: ImageOps.equalize(img),
    "Invert": lambda img, v, rng: ImageOps.invert(img),
    "Rotate": lambda img, v, rng: img.rotate(v),
    "Posterize": lambda img, v, rng: ImageOps.posterize(img, max(1, int(v))),
    "Solarize": lambda img, v, rng: ImageOps.solarize(img, v),
    "SolarizeAdd": lambda img, v, rng: _solarize_add(img, v),
    "Color": lambda img, v, rng: ImageEnhance.Color(img).enhance(v),
    "Contrast": lambda img, v, rng: ImageEnhance.Contrast(img).enhance(v),
    "Brightness": lambda img, v, rng: ImageEnhance.Brightness(img).enhance(v),
    "Sharpness": lambda img, v, rng: ImageEnhance.Sharpness(img).enhance(v),
    "ShearX": lambda img, v, rng: _affine(img, (1, v, 0, 0, 1, 0)),
    "ShearY": lambda img, v, rng: _affine(img, (1, 0, 0, v, 1, 0)),
    "Cutout": lambda img, v, rng: _cutout(img, v, rng),
    "TranslateX": lambda img, v, rng: _affine(img, (1, 0, v, 0, 1, 0)),
    "TranslateY": lambda img, v, rng: _affine(img, (1, 0, 0, 0, 1, v)),
}


def apply_operation(img: Image.Image, name: str, magnitude: float, rng: random.Random) -> Image.Image:
    """One operation at magnitude M; a signed operation draws its sign first (negative when
    ``rng.random() > 0.5``), Cutout then draws its centre."""
    if name not in BY_NAME:
        raise ValueError(f"RandAugment: unknown operation {name!r}; known: {sorted(BY_NAME)}")
    op = BY_NAME[name]
    value = op.value(magnitude)
    if op.signed and rng.random() > 0.5:
        value = -value
    return _APPLY[name](img, value, rng)


class AuthorsRandAugment:
    """RandAugment(n, m) as the authors ran it: ``transform(img) -> img`` on a PIL image."""

    def __init__(self, n: int = 2, m: float = 14, seed: int | None = None) -> None:
        if not (isinstance(n, int) and n >= 0):
            raise ValueError(f"RandAugment: n (operations per image) must be an integer >= 0, got {n!r}")
        if not 0 <= m <= MAX_MAGNITUDE:
            raise ValueError(f"RandAugment: magnitude m must lie in [0, {MAX_MAGNITUDE}], got {m!r}")
        self.n, self.m = n, m
        self.rng = random.Random(seed)

    def reseed(self, seed: int) -> None:
        """Restart the random stream (e.g. per DataLoader worker, from the worker's seed)."""
        self.rng.seed(seed)

    def __call__(self, img: Image.Image) -> Image.Image:
        for op in self.rng.choices(OPERATIONS, k=self.n):
            img = apply_operation(img, op.name, self.m, self.rng)
        return img

    def __repr__(self) -> str:
        return f"AuthorsRandAugment(n={self.n}, m={self.m})"
