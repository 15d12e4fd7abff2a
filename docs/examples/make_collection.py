"""Make a small collection to try sharpgen on, on any machine: random-weight timm models and a
generated image folder (docs/your-models.md).

    python docs/examples/make_collection.py my-collection [--models 3]

writes ``my-collection/models.csv`` (one row per model), ``my-collection/checkpoints/`` (the
weights, saved in turn as a torch state dict, as safetensors and in the ``{"last": ...}`` format)
and ``my-collection/images/{train,test,noise,dark}/<class>/<n>.png`` (three classes of coloured
squares; ``noise`` and ``dark`` are shifted copies of the test images).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file

from sharpgen.networks.factory import resolve

CLASSES = ("red", "green", "blue")
SIZE = 32
ARCHS = ("timm:test_vit(num_classes=3, img_size=32)", "timm:test_resnet(num_classes=3)")


def image(label: int, rng: np.random.Generator, shift: str) -> Image.Image:
    """A noisy square of the class's colour at a random place on a grey background."""
    x = np.full((SIZE, SIZE, 3), 110.0) + rng.normal(0, 20, (SIZE, SIZE, 3))
    top, left = rng.integers(0, SIZE // 2, size=2)
    x[top : top + SIZE // 2, left : left + SIZE // 2, label] += 120
    if shift == "noise":
        x += rng.normal(0, 60, x.shape)
    elif shift == "dark":
        x *= 0.4
    return Image.fromarray(np.clip(x, 0, 255).astype(np.uint8))


def images(root: Path, per_class: dict[str, int], seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for split, n in per_class.items():
        for label, name in enumerate(CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                image(label, rng, split).save(folder / f"{i:03d}.png")


def save(model: torch.nn.Module, path: Path, form: str) -> None:
    """The weights in one of three formats: a state dict, safetensors, or {"last": state dict}."""
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    if form == "safetensors":
        save_file(state, str(path))
    else:
        torch.save({"last": state} if form == "last" else state, path)


def models(root: Path, count: int, start: int = 0) -> list[dict[str, object]]:
    """``count`` random-weight models (ids model<start>...), each scaled by its own init_scale."""
    rows = []
    forms = (("torch", ".pt"), ("safetensors", ".safetensors"), ("last", ".pth"))
    (root / "checkpoints").mkdir(parents=True, exist_ok=True)
    for i in range(start, start + count):
        arch = ARCHS[i % len(ARCHS)]
        torch.manual_seed(i)
        model = resolve(arch)()  # timm.create_model(name, pretrained=False, **arguments)
        name = arch.removeprefix("timm:").partition("(")[0]
        scale = 0.5 + 0.25 * i
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(scale)
        form, suffix = forms[i % len(forms)]
        path = root / "checkpoints" / f"model{i}{suffix}"
        save(model, path, form)
        rows.append({"model_id": f"model{i}", "checkpoint": f"checkpoints/{path.name}", "arch": arch,
                     "family": name, "init_scale": scale, "seed": i, "format": form})
    return rows


def write_sheet(path: Path, rows: list[dict[str, object]]) -> None:
    with open(path, "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--models", type=int, default=3)
    parser.add_argument("--train", type=int, default=16, help="training images per class")
    parser.add_argument("--test", type=int, default=8, help="test (and shifted) images per class")
    a = parser.parse_args()
    images(a.out / "images", {"train": a.train, "test": a.test, "noise": a.test, "dark": a.test})
    write_sheet(a.out / "models.csv", models(a.out, a.models))
    print(f"{a.out}: {a.models} models in models.csv, images under images/")


if __name__ == "__main__":
    main()
