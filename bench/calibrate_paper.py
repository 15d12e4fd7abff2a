"""Calibrate the architectures that a config plans, on this machine's device, for `sharpgen estimate`.

Reads the config as `sharpgen estimate` does (config.yaml, then each --configfile, then
--config overrides), takes exactly the calibrations that `estimate` (and the workflow's
`calibrate` rule) will look for, builds each architecture with random weights (no download),
times its passes and noise paths at every m its definitions use (sharpgen.calibration), and
writes them under those keys:

    python bench/calibrate_paper.py --configfile config/paper.yaml --config grid=paper --out results/calibration
    python -m sharpgen estimate --configfile config/paper.yaml --config grid=paper

The load time is not measured here (no checkpoint): it is set to --load-seconds.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from sharpgen.atomic import atomic_path
from sharpgen.calibration import calibrate_model
from sharpgen.device import resolve_device, set_precision
from sharpgen import config
from sharpgen.estimate import SETTING_SCHEMA, calibration_plan, merged_config

IMAGENET = (3, 224, 224)


def build(setting: str, arch: str):
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", type=Path, nargs="*", default=[Path("config/paper.yaml")])
    parser.add_argument("--config", nargs="*", default=["grid=paper"], metavar="KEY=VALUE")
    parser.add_argument("--settings", nargs="*", default=None, help="only these settings (default: all the config plans)")
    parser.add_argument("--m", type=int, nargs="*", default=None, help="only these batch sizes (default: every planned m)")
    parser.add_argument("--out", type=Path, default=Path("results/calibration"))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--load-seconds", type=float, default=10.0)
    parser.add_argument("--no-noise-path", action="store_true", help="skip timing loop against vmap (the loop is recorded)")
    args = parser.parse_args()
    device = resolve_device(args.device)
    cfg = merged_config(args.configfile, dict(item.split("=", 1) for item in args.config))
    planned, blocks = calibration_plan(cfg), config.resolve(cfg, SETTING_SCHEMA)
    for setting, archs in planned.items():
        if args.settings is not None and setting not in args.settings:
            continue
        precision = blocks[setting]["precision"]
        set_precision(precision)
        for key, (arch, ms) in archs.items():
            ms = [m for m in ms if args.m is None or m in args.m]
            model, batch = build(setting, arch)
            c = calibrate_model(model.to(device), batch, ms, device, args.load_seconds,
                                log=lambda line, arch=arch: print(f"{setting:7} {arch} {line}", flush=True),
                                noise=not args.no_noise_path, precision=precision)
            path = args.out / setting / f"{key}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp:
                tmp.write_text(c.to_json())
            print(f"wrote {path}", flush=True)


if __name__ == "__main__":
    main()
