"""Image files decoded as each upstream pipeline decodes them.

- :func:`open_rgb`: torchvision's ``ImageFolder`` loader (``pil_loader``): Pillow, converted to
  RGB as the file is opened, before any transform (model soups / CLIP).
- :func:`decode_as_tensorflow`: vit_jax's input pipeline (AugReg), which reads ImageNet through
  ``tensorflow_datasets`` and TensorFlow's ``decode_jpeg`` with its defaults: libjpeg-turbo with the
  fast integer IDCT (``dct_method=''`` is ``JDCT_IFAST``) and fancy upsampling, 3 channels
  (grayscale replicated; CMYK/YCCK converted by TensorFlow's own formula; EXIF orientation
  ignored). The decoder here is libjpeg-turbo through ``simplejpeg``; ``tests/test_decode.py``
  checks it bit-exact against TensorFlow.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import simplejpeg
from PIL import Image

JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# tensorflow_datasets' imagenet2012 builder (CMYK_IMAGES, PNG_IMAGES, from cytsai/ilsvrc-cmyk-image-list)
# rewrites these ImageNet training files when it prepares the data set: decoded by TensorFlow,
# encoded again as RGB JPEG at quality 100. (ILSVRC2012_val_00019877.JPEG, a CMYK file of val,
# is not on its list and stays CMYK.)
TFDS_REWRITTEN = frozenset({
    "n01739381_1309.JPEG", "n02077923_14822.JPEG", "n02447366_23489.JPEG", "n02492035_15739.JPEG",
    "n02747177_10752.JPEG", "n03018349_4028.JPEG", "n03062245_4620.JPEG", "n03347037_9675.JPEG",
    "n03467068_12171.JPEG", "n03529860_11437.JPEG", "n03544143_17228.JPEG", "n03633091_5218.JPEG",
    "n03710637_5125.JPEG", "n03961711_5286.JPEG", "n04033995_2932.JPEG", "n04258138_17003.JPEG",
    "n04264628_27969.JPEG", "n04336792_7448.JPEG", "n04371774_5854.JPEG", "n04596742_4225.JPEG",
    "n07583066_647.JPEG", "n13037406_4650.JPEG",  # CMYK
    "n02105855_2933.JPEG",  # a PNG file
})
PNG_MODES = ("RGB", "RGBA", "P", "L", "LA")  # PNGs of up to 8 bits, whose RGB Pillow and TensorFlow's libpng agree on


def open_rgb(path: Path) -> Image.Image:
    """The image at ``path`` in RGB, converted as it is opened (torchvision's ``pil_loader``)."""
    with open(path, "rb") as f:
        return Image.open(f).convert("RGB")


def _header(data: bytes) -> tuple[bool, int, bytes]:
    """Walk a JPEG's marker segments up to its first scan: (Adobe APP14 marker seen, offset of the
    scan, the data without the stray bytes between segments, which libjpeg skips with a warning)."""
    i, adobe, kept = 2, False, [data[:2]]
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker == 0xFF or marker == 0x01 or 0xD0 <= marker <= 0xD8:  # fill byte, TEM, RSTn, SOI: no length
            step = 2 if marker != 0xFF else 1
            kept.append(data[i:i + step])
            i += step
            continue
        if marker in (0xDA, 0xD9):  # start of scan, end of image
            break
        length = int.from_bytes(data[i + 2:i + 4], "big")
        adobe |= marker == 0xEE and length - 2 >= 12 and data[i + 4:i + 9] == b"Adobe"
        kept.append(data[i:i + 2 + length])
        i += 2 + length
    return adobe, i, b"".join(kept) + data[i:]


def adobe_marker(data: bytes) -> bool:
    """Whether a JPEG has an Adobe APP14 marker before its first scan (libjpeg's ``saw_Adobe_marker``)."""
    return _header(data)[0]


def cmyk_to_rgb(cmyk: np.ndarray, adobe: bool) -> np.ndarray:
    """TensorFlow's CMYK -> RGB (``jpeg_mem.cc``): Adobe files store inverted CMYK, so r = k c / 255;
    others r = (255 - k)(255 - c) / 255; integer division."""
    x = cmyk.astype(np.int32)
    ink, black = (x[..., :3], x[..., 3:]) if adobe else (255 - x[..., :3], 255 - x[..., 3:])
    return (ink * black // 255).astype(np.uint8)


def _tf_decode_jpeg(data: bytes) -> np.ndarray:
    """``tf.io.decode_jpeg(data, channels=3)`` with its default arguments."""
    adobe, scan, clean = _header(data)
    # TensorFlow's memory source stops with an error where libjpeg runs out of data
    # (try_recover_truncated=False); libjpeg-turbo's own would insert an end and fill the rest with grey
    if data.find(b"\xff\xd9", scan) < 0:
        raise ValueError("the data ends before the end-of-image marker (a truncated file, which TensorFlow refuses)")
    data = clean  # TurboJPEG stops at stray bytes between header segments, which TensorFlow's libjpeg skips
    colorspace = simplejpeg.decode_jpeg_header(data, strict=False)[2]
    if colorspace in ("CMYK", "YCCK"):
        cmyk = simplejpeg.decode_jpeg(data, "CMYK", fastdct=True, fastupsample=False, strict=False)
        return cmyk_to_rgb(cmyk, adobe)
    return simplejpeg.decode_jpeg(data, "RGB", fastdct=True, fastupsample=False, strict=False)


def _png_rgb(path: Path, data: bytes) -> np.ndarray:
    """``tf.io.decode_png(data, channels=3)`` of an 8-bit PNG: palette expanded, alpha dropped, grey replicated."""
    with Image.open(path) as image:
        if image.mode not in PNG_MODES or data[24] > 8:  # data[24]: the bit depth in the IHDR chunk
            raise ValueError(f"{path}: a {image.mode} PNG of bit depth {data[24]}; only PNGs of up to 8 bits "
                             f"({', '.join(PNG_MODES)}) are decoded as TensorFlow does; convert it to one or to JPEG")
        return np.asarray(image.convert("RGB"))


def tfds_rewrite(rgb: np.ndarray) -> np.ndarray:
    """What tensorflow_datasets stores for a file it rewrites, as decoded again: ``tf.image.encode_jpeg``
    (quality 100, 4:2:0, accurate DCT) then ``decode_jpeg``."""
    data = simplejpeg.encode_jpeg(np.ascontiguousarray(rgb), quality=100, colorspace="RGB", colorsubsampling="420",
                                  fastdct=False)
    return _tf_decode_jpeg(data)


def decode_as_tensorflow(path: Path) -> np.ndarray:
    """The image at ``path`` as vit_jax's pipeline sees it: height x width x 3 uint8, decoded as
    TensorFlow's ``decode_jpeg`` (``decode_png`` for PNG files), after tensorflow_datasets'
    rewrite of the ImageNet files it fixes (:data:`TFDS_REWRITTEN`)."""
    data = Path(path).read_bytes()
    if data.startswith(JPEG_MAGIC):
        try:
            rgb = _tf_decode_jpeg(data)
        except ValueError as e:  # libjpeg-turbo's error (TensorFlow refuses truncated files too)
            raise ValueError(f"{path}: cannot decode this JPEG ({e}); replace the file with an intact copy") from e
    elif data.startswith(PNG_MAGIC):
        rgb = _png_rgb(path, data)
    else:
        raise ValueError(f"{path}: neither JPEG nor PNG data (starts {data[:8]!r}); vit_jax's pipeline decodes "
                         "JPEG (and tensorflow_datasets' PNG) files only: convert it to JPEG")
    return tfds_rewrite(rgb) if Path(path).name in TFDS_REWRITTEN else rgb
