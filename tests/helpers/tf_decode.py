"""Images as TensorFlow decodes them in vit_jax's input pipeline (the reference of tests/test_decode.py).

Run as ``python -m helpers.tf_decode IN_DIR SIZE OUT.npz`` (from ``tests/``), in its own process
(TensorFlow and torch's triton must not share one). First writes a few JPEGs with TensorFlow's
own encoder into IN_DIR (``tf_<subsampling>_<h>x<w>.jpg``), then for every file of IN_DIR stores:

- ``<name>.decoded``: ``tf.io.decode_jpeg(data, channels=3)`` with default arguments
  (``tf.io.decode_png(data, channels=3)`` for PNG data), after tensorflow_datasets' imagenet2012
  rewrite for the file names it lists (decoded with ``decode_jpeg``'s defaults / ``decode_png`` with
  3 channels, encoded with ``tf.image.encode_jpeg(format='rgb', quality=100)``);
- ``<name>.input``: vit_jax's eval preprocessing of it, ``tf.image.resize`` to SIZE x SIZE, then
  (x - 127.5) / 127.5, channels first;
- ``<name>.refused`` instead, where TensorFlow refuses the file.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import tensorflow as tf

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TFDS_CMYK = {"n01739381_1309.JPEG"}  # names of tensorflow_datasets' CMYK_IMAGES / PNG_IMAGES used by the test
TFDS_PNG = {"n02105855_2933.JPEG"}


def tf_written(folder: Path) -> None:
    """JPEGs written by TensorFlow's encoder (smooth colour ramps plus noise), 4:2:0 and 4:4:4."""
    rng = np.random.default_rng(7)
    for h, w in ((37, 53), (16, 16), (5, 91)):
        yy, xx = np.mgrid[0:h, 0:w]
        ramp = np.stack([255 * xx / max(w - 1, 1), 255 * yy / max(h - 1, 1), 128 + 60 * np.sin(xx / 3.0)], -1)
        image = np.clip(ramp + rng.normal(0, 12, ramp.shape), 0, 255).astype(np.uint8)
        for name, downsample in (("420", True), ("444", False)):
            data = tf.io.encode_jpeg(image, quality=87, chroma_downsampling=downsample).numpy()
            (folder / f"tf_{name}_{h}x{w}.jpg").write_bytes(data)


def decode(path: Path) -> np.ndarray:
    data = path.read_bytes()
    if path.name in TFDS_CMYK | TFDS_PNG:  # tensorflow_datasets' _fix_image at preparation time
        rgb = tf.io.decode_png(data, channels=3) if path.name in TFDS_PNG else tf.io.decode_jpeg(data)
        data = tf.io.encode_jpeg(rgb, format="rgb", quality=100).numpy()
    if data.startswith(PNG_MAGIC):
        return tf.io.decode_png(data, channels=3).numpy()
    return tf.io.decode_jpeg(data, channels=3).numpy()


def main(folder: Path, size: int, out: Path) -> None:
    tf_written(folder)
    arrays = {}
    for path in sorted(folder.iterdir()):
        try:
            rgb = decode(path)
        except tf.errors.InvalidArgumentError:
            arrays[f"{path.name}.refused"] = np.array(True)
            continue
        arrays[f"{path.name}.decoded"] = rgb
        x = (tf.image.resize(tf.cast(rgb, tf.float32), [size, size]) - 127.5) / 127.5
        arrays[f"{path.name}.input"] = np.transpose(x.numpy(), (2, 0, 1))
    np.savez(out, **arrays)


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]))
