"""Engine time against its lower bound, side by side in one run, on CPU (or CUDA when present).

Lower bound = the same number of bare passes of the same model on the same batches, timed in
the same process: worst-case n_iters x (forward + backward) + 1 forward per batch; average-case
(n_samples + 1) forwards per batch. Ratios near 1 mean the engine adds almost nothing to the
passes it must do. Peak memory: CUDA max allocated, or the growth of the process's resident
high-water mark on CPU.

    python bench/engine_speed.py [--device auto] [--repeats 3]
"""

from __future__ import annotations

import argparse
import resource
import time

import torch
from torch import nn
from torch.nn import functional as F

from sharpgen.device import resolve_device
from sharpgen.sharpness import Definition, compute_sharpness, split_batches


def resnet18_like(width: int) -> nn.Module:
    """Pre-activation ResNet-18 layout (4 stages x 2 blocks) at a width that fits 2 cores."""

    class Block(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.bn1, self.conv1 = nn.BatchNorm2d(cin), nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn2, self.conv2 = nn.BatchNorm2d(cout), nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.short = nn.Conv2d(cin, cout, 1, stride, bias=False) if stride != 1 or cin != cout else None

        def forward(self, x):
            out = F.relu(self.bn1(x))
            short = self.short(out) if self.short is not None else x
            out = self.conv1(out)
            return self.conv2(F.relu(self.bn2(out))) + short

    layers, cin = [nn.Conv2d(3, width, 3, 1, 1, bias=False)], width
    for stage, stride in enumerate((1, 2, 2, 2)):
        cout = width * 2**stage
        layers += [Block(cin, cout, stride), Block(cout, cout, 1)]
        cin = cout
    layers += [nn.BatchNorm2d(cin), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 10)]
    return nn.Sequential(*layers)


def small_vit() -> nn.Module:
    from timm.models.vision_transformer import VisionTransformer

    return VisionTransformer(img_size=32, patch_size=4, embed_dim=128, depth=4, num_heads=4, num_classes=10)


def lower_bound(model: nn.Module, batches, definition: Definition, device) -> float:
    model.eval()
    start = time.perf_counter()
    for x, y in batches:
        x, y = x.to(device), y.to(device)
        if definition.algorithm == "worst":
            for _ in range(definition.n_iters):
                model.zero_grad(set_to_none=True)
                F.cross_entropy(model(x), y).backward()
            passes = 1
        else:
            passes = definition.n_samples + 1
        with torch.no_grad():
            for _ in range(passes):
                F.cross_entropy(model(x), y)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def peak_mb(device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--models", nargs="+", default=["resnet18-w16", "vit-d128x4"])
    parser.add_argument("--n", type=int, default=256, help="examples (the paper uses 1024)")
    parser.add_argument("--m", type=int, default=128)
    args = parser.parse_args()
    device = resolve_device(args.device)
    torch.manual_seed(0)
    x, y = torch.randn(args.n, 3, 32, 32), torch.randint(0, 10, (args.n,))
    batches = split_batches(x, y, args.m)
    builders = {"resnet18-w16": lambda: resnet18_like(16), "vit-d128x4": small_vit}
    models = {name: builders[name]() for name in args.models}
    definitions = [
        Definition("worst", "linf", rho=0.002, m=args.m),
        Definition("worst", "l2", rho=0.5, m=args.m),
        Definition("average", "l2", rho=0.1, m=args.m),
        Definition("average", "linf", rho=0.1, m=args.m),
    ]
    print(f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}, n={args.n}, m={args.m}")
    print(f"{'model':14} {'definition':50} {'engine s':>9} {'bound s':>9} {'ratio':>6} {'peak MB':>8}")
    for name, model in models.items():
        model.to(device)
        n_params = sum(p.numel() for p in model.parameters())
        lower_bound(model, batches[:1], definitions[0], device)  # warm-up
        for d in definitions:
            engine, bound = [], []
            for _ in range(args.repeats):  # interleaved, so both see the same machine state
                bound.append(lower_bound(model, batches, d, device))
                if device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(device)
                t = time.perf_counter()
                compute_sharpness(model, batches, d, device=device)
                engine.append(time.perf_counter() - t)
            e, b = min(engine), min(bound)  # best of interleaved repeats: the least disturbed run
            print(f"{name:14} {d.id:50} {e:9.3f} {b:9.3f} {e / b:6.3f} {peak_mb(device):8.0f}", flush=True)
        print(f"{'':14} ({n_params / 1e6:.2f} M parameters)")


if __name__ == "__main__":
    main()
