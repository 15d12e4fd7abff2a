"""Calibrate the paper's architectures on this machine's device, for `sharpgen estimate`.

Builds each architecture of config/paper.yaml with random weights (no download), times one
forward and one forward+backward pass at every m of the paper grid, and writes the
calibrations where `python -m sharpgen estimate` looks for them:

    python bench/calibrate_paper.py --out results/calibration
    python -m sharpgen estimate --configfile config/paper.yaml --config grid=paper

The load time is not measured here (no checkpoint): it is set to --load-seconds.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from sharpgen.cost import Calibration
from sharpgen.device import resolve_device
from sharpgen.plan import arch_key

IMAGENET = (3, 224, 224)


def build(setting: str, arch: str) -> tuple[torch.nn.Module, callable]:
    """An untrained model of the setting's architecture and a function m -> (inputs, labels)."""
    if setting in ("augreg", "soups"):
        from sharpgen.networks.timm_arch import create_timm

        model = create_timm(arch) if setting == "augreg" else torch.nn.Sequential(create_timm(arch, num_classes=512), torch.nn.Linear(512, 1000))
        return model, lambda m: (torch.randn(m, *IMAGENET), torch.randint(0, 1000, (m,)))
    if setting == "bert":
        from transformers import BertConfig, BertForSequenceClassification

        from sharpgen.networks.bert import BertClassifier

        model = BertClassifier(BertForSequenceClassification(BertConfig(num_labels=3)))
        return model, lambda m: (torch.stack([torch.randint(0, 30522, (m, 128)), torch.ones(m, 128, dtype=torch.long), torch.zeros(m, 128, dtype=torch.long)], 1), torch.randint(0, 3, (m,)))
    from sharpgen.settings.cifar import resolve_factory

    return resolve_factory(arch)(), lambda m: (torch.rand(m, 3, 32, 32), torch.randint(0, 10, (m,)))


def calibrate(model: torch.nn.Module, batch, ms: list[int], device: torch.device, load_seconds: float) -> Calibration:
    model = model.to(device).eval()
    forward, backward, peak = {}, {}, {}
    for m in ms:
        x, y = (t.to(device) for t in batch(m))
        torch.cuda.reset_peak_memory_stats(device) if device.type == "cuda" else None
        times = {"f": [], "fb": []}
        for _ in range(4):
            t0 = time.perf_counter()
            with torch.no_grad():
                model(x)
            torch.cuda.synchronize(device) if device.type == "cuda" else None
            t1 = time.perf_counter()
            F.cross_entropy(model(x), y).backward()
            torch.cuda.synchronize(device) if device.type == "cuda" else None
            times["f"].append(t1 - t0)
            times["fb"].append(time.perf_counter() - t1)
        model.zero_grad(set_to_none=True)
        forward[m], backward[m] = min(times["f"][1:]), min(times["fb"][1:])
        peak[m] = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else float("nan")
    return Calibration(str(device), load_seconds, forward, backward, peak)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results/calibration"))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--load-seconds", type=float, default=10.0)
    args = parser.parse_args()
    device = resolve_device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False  # as the engine
    archs = {
        "augreg": ["vit_base_patch16_224"],
        "soups": ["vit_base_patch32_clip_quickgelu_224"],
        "bert": ["bert-base-uncased"],
        "cifar": ["sharpgen.networks.architectures:preact_resnet18", "sharpgen.networks.architectures:simple_vit"],
    }
    for setting, names in archs.items():
        ms = [16, 32, 64, 128] if setting == "cifar" else [128]
        for arch in names:
            model, batch = build(setting, arch)
            c = calibrate(model, batch, ms, device, args.load_seconds)
            path = args.out / setting / f"{arch_key(arch)}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(c.to_json())
            print(f"{setting:7} {arch:50} " + "  ".join(f"m={m}: f {c.forward_seconds[m] * 1e3:7.1f} ms fb {c.forward_backward_seconds[m] * 1e3:7.1f} ms peak {c.peak_mb[m]:6.0f} MB" for m in ms), flush=True)


if __name__ == "__main__":
    main()
