"""The ImageNet evaluation sets of the paper's ImageNet settings (augreg, soups): names, on-disk
layouts and config keys. Light (no torch): settings read it while planning.

Every set lies under the setting's ``data_root`` in the layout its own archive unpacks to:

| split | folder under data_root | layout | classes |
|---|---|---|---|
| train (a sample) | ``train/<wnid>/*.JPEG`` | ImageFolder of the 1,000 wnids | 1000 |
| test (ImageNet val) | ``val/<wnid>/*.JPEG`` | ImageFolder (valprep.sh layout) | 1000 |
| shift:imagenetv2 | ``imagenetv2-matched-frequency-format-val/<0..999>/*.jpeg`` | folders named by class index | 1000 |
| shift:imagenet_r | ``imagenet-r/<wnid>/*.jpg`` | 200 wnid folders | 200 (logits restricted) |
| shift:imagenet_sketch | ``sketch/<wnid>/*.JPEG`` | 1,000 wnid folders | 1000 |
| shift:imagenet_a | ``imagenet-a/<wnid>/*.jpg`` | 200 wnid folders | 200 (logits restricted) |
| shift:objectnet | ``objectnet-1.0/images/<objectnet folder>/*.png`` | ObjectNet class folders | 113 (max over mapped logits) |
"""

from __future__ import annotations

from typing import Any

SHIFTS: dict[str, tuple[str, str]] = {  # name -> (folder under data_root, kind of folder names)
    "imagenetv2": ("imagenetv2-matched-frequency-format-val", "index"),
    "imagenet_r": ("imagenet-r", "wnid200:imagenet_r_wnids.txt"),
    "imagenet_sketch": ("sketch", "wnid"),
    "imagenet_a": ("imagenet-a", "wnid200:imagenet_a_wnids.txt"),
    "objectnet": ("objectnet-1.0/images", "objectnet"),
}
TRAIN_LAYOUT = "ImageNet train in ImageFolder layout: <data_root>/train/<wnid>/*.JPEG (the 1,000 ILSVRC2012 wnids)"

BLOCK_SCHEMA: dict[str, Any] = {
    "shifts": {
        "description": "Distribution-shift sets evaluated by `metrics: evaluate` (each under data_root in its archive's layout; see the README).",
        "type": "array", "items": {"enum": list(SHIFTS)}, "uniqueItems": True, "default": list(SHIFTS),
    },
    "train_n": {
        "description": "`metrics: evaluate`: training images (a class-stratified sample, seed 1) on which training loss and error are measured; 0 = none. Skipped when data_root has no train folder.",
        "type": "integer", "minimum": 0, "default": 10000,
    },
}
