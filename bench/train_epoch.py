"""Training-epoch time by augmentation and feeding: is augmentation off the critical path?

For one architecture on random CIFAR-sized images: the time of augmenting an epoch's batches
alone, and the epoch time of the training loop (the CIFAR recipe's ``fit``) with crop+flip,
+RandAugment and +RandAugment+SAM, each with the in-loop batches (augmentation in the loop, the
sum of both) and with the fed loop at k DataLoader workers (close to the larger of the two when
the workers keep up). Epoch time = the faster of --epochs epochs (the first one starts the
workers). Every configuration runs in this one process, one after the other.

    python bench/train_epoch.py [--arch ...] [--n 20000] [--batch-size 128] [--workers 0 4] [--device auto]
"""

from __future__ import annotations

import argparse
import time

import torch

from sharpgen.data.cifar_augment import augmenter
from sharpgen.device import resolve_device
from sharpgen.settings.cifar import resolve_factory
from sharpgen.training import TrainConfig, fit, triangular_lr

RECIPES = {"crop+flip": (False, 0.0), "+randaug": (True, 0.0), "+randaug+sam": (True, 0.05)}


def augment_only(x: torch.Tensor, batch_size: int, randaug: bool) -> float:
    """Seconds to augment one epoch's batches, nothing else."""
    augment = augmenter(True, randaug)
    generator = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    for i in range(len(x) // batch_size):
        augment(x[i * batch_size : (i + 1) * batch_size], generator)
    return time.perf_counter() - t0


def epoch_seconds(arch: str, x, y, batch_size: int, randaug: bool, sam: float, workers: int | None, device, epochs: int, amp: bool) -> float:
    torch.manual_seed(0)
    model = resolve_factory(arch)().to(device)
    cfg = TrainConfig(arch=arch, lr=0.05, batch_size=batch_size, augment=True, sam_rho=sam, epochs=epochs, seed=0)
    _, history = fit(model, cfg, x, y, device, augmenter(True, randaug), triangular_lr, amp=amp, workers=workers)
    return min(h["seconds"] for h in history)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="sharpgen.networks.architectures:preact_resnet18(width=64)")
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--workers", type=int, nargs="+", default=[4], help="fed-loop worker counts to time")
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="torch threads of the training process")
    parser.add_argument("--amp", action="store_true", help="bfloat16 autocast on CUDA (the CIFAR recipe's amp)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(args.n, 3, 32, 32, generator=g), torch.randint(0, 10, (args.n,), generator=g)
    print(f"{args.arch}, n={args.n}, batch {args.batch_size}, device {device}, threads {torch.get_num_threads()}, amp {args.amp}", flush=True)
    print(f"{'recipe':14} {'augment only s':>14} {'in-loop s':>10} " + " ".join(f"{f'{k} workers s':>12}" for k in args.workers), flush=True)
    for recipe in args.recipes:
        randaug, sam = RECIPES[recipe]
        aug = augment_only(x, args.batch_size, randaug)
        cells = [epoch_seconds(args.arch, x, y, args.batch_size, randaug, sam, None, device, args.epochs, args.amp)]
        cells += [epoch_seconds(args.arch, x, y, args.batch_size, randaug, sam, k, device, args.epochs, args.amp) for k in args.workers]
        print(f"{recipe:14} {aug:14.2f} " + " ".join(f"{c:10.2f}" if i == 0 else f"{c:12.2f}" for i, c in enumerate(cells)), flush=True)


if __name__ == "__main__":
    main()
