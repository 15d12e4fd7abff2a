"""Engine time against its lower bound, side by side in one run, on CPU (or CUDA when present).

Lower bound = the same number of bare passes of the same model on the same batches, timed in
the same process: worst-case n_iters x (forward + backward) + 1 forward per batch; average-case
(n_samples + 1) forwards per batch. Ratios near 1 mean the engine adds almost nothing to the
passes it must do. Peak memory: CUDA max allocated, or the growth of the process's resident
high-water mark on CPU.

    python bench/engine_speed.py [--device auto] [--repeats 3] [--baseline REV] [--vmap K] [--kernels]

--baseline REV times the engine of git revision REV (extracted into a temporary package
``sharpgen_baseline``) interleaved with the working tree's engine and the bound, so that before
and after are measured side by side under the same machine state. --vmap K adds, for the
average-case definitions, the working tree's engine with ``batch_samples=K`` (torch.func.vmap
over K noise samples at a time) next to the default (the loop on CPU).

--kernels adds, per model, the number of operator events (torch.profiler: aten ops on CPU,
plus CUDA kernels on a GPU) that the engine spends per noise sample and per APGD iteration
beyond the bare passes it makes: measured as the difference between two sample (iteration)
counts, so fixed costs cancel, minus the same difference for the bound. Two MLPs of equal
width and 4 vs 64 layers (8 vs 128 parameter tensors) show whether that work grows with the
number of parameter tensors.
"""

from __future__ import annotations

import argparse
import importlib
import pathlib
import re
import resource
import subprocess
import sys
import tempfile
import time

import torch
from torch import nn
from torch.nn import functional as F

from sharpgen.device import resolve_device
from sharpgen.networks.architectures import preact_resnet18
from sharpgen.sharpness import Definition, compute_sharpness, split_batches


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


def mlp(layers: int) -> nn.Module:
    """A plain MLP on 32x32x3 images, ``layers`` linear layers of width 64 (2 tensors each)."""
    dims = [3 * 32 * 32] + [64] * (layers - 1) + [10]
    body: list[nn.Module] = [nn.Flatten()]
    for i in range(layers):
        body += [nn.Linear(dims[i], dims[i + 1])] + ([nn.ReLU()] if i < layers - 1 else [])
    return nn.Sequential(*body)


def count_events(fn, device) -> tuple[int, int]:
    """(operator events, CUDA kernels) that ``fn()`` launches, by torch.profiler."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    events = prof.events()
    kernels = sum(1 for e in events if e.device_type == torch.autograd.DeviceType.CUDA)
    return len(events) - kernels, kernels


def kernels_beyond_bound(engine, model: nn.Module, batch, device, algorithm: str, norm: str, low: int = 2, high: int = 6):
    """Events per noise sample (average) or APGD iteration (worst) beyond the bare passes: the
    increase from ``low`` to ``high`` samples (iterations), minus the bound's, per step."""
    def definition(k: int) -> Definition:
        key = "n_samples" if algorithm == "average" else "n_iters"
        return Definition(algorithm, norm, rho=0.002 if norm == "linf" else 0.1, m=len(batch[0][1]), **{key: k})

    out = []
    for which in (0, 1):
        counts = {}
        for k in (low, high):
            d = definition(k)
            engine(model, batch, d, device=device)  # warm-up: lazy initialisation is not per step
            fn = (lambda d=d: engine(model, batch, d, device=device)) if which == 0 else (lambda d=d: lower_bound(model, batch, d, device))
            counts[k] = count_events(fn, device)
        out.append([(counts[high][j] - counts[low][j]) / (high - low) for j in (0, 1)])
    return [e - b for e, b in zip(*out)]


def load_baseline(rev: str):
    """compute_sharpness of git revision ``rev``, imported as package ``sharpgen_baseline``."""
    root = pathlib.Path(__file__).resolve().parents[1]
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="sharpgen-baseline-"))
    archive = subprocess.run(["git", "-C", str(root), "archive", rev, "src/sharpgen"], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive.stdout, check=True)
    package = tmp / "sharpgen_baseline"
    (tmp / "src" / "sharpgen").rename(package)
    for path in package.rglob("*.py"):
        path.write_text(re.sub(r"\bsharpgen\b", "sharpgen_baseline", path.read_text()))
    sys.path.insert(0, str(tmp))
    return importlib.import_module("sharpgen_baseline.sharpness").compute_sharpness


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
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--baseline", default=None, help="git revision whose engine to time alongside")
    parser.add_argument("--vmap", type=int, default=0, help="also time average-case with batch_samples=K")
    parser.add_argument("--kernels", action="store_true", help="count operator events per sample / iteration beyond the bound")
    parser.add_argument("--no-timing", action="store_true", help="skip the timing table (with --kernels)")
    parser.add_argument(
        "--malloc-keep", action="store_true",
        help="glibc: never return freed memory to the OS (mallopt trim and mmap thresholds 1 GiB), for the bound "
        "and the engine alike; removes the page faults that fresh activation buffers otherwise cost on CPU",
    )
    parser.add_argument(
        "--clock", choices=["wall", "cpu"], default="wall",
        help="cpu: process CPU time (CPU runs only; with --threads 1 it is robust to other load on the machine)",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.malloc_keep:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
        assert libc.mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1 and libc.mallopt(M_MMAP_THRESHOLD, 1 << 30) == 1
    device = resolve_device(args.device)
    clock = time.process_time if args.clock == "cpu" and device.type == "cpu" else time.perf_counter
    baseline = load_baseline(args.baseline) if args.baseline else None
    torch.manual_seed(0)
    x, y = torch.randn(args.n, 3, 32, 32), torch.randint(0, 10, (args.n,))
    batches = split_batches(x, y, args.m)
    builders = {"resnet18-w16": lambda: preact_resnet18(width=16), "vit-d128x4": small_vit,
                "mlp-4": lambda: mlp(4), "mlp-64": lambda: mlp(64)}
    models = {name: builders[name]() for name in args.models}
    definitions = [
        Definition("worst", "linf", rho=0.002, m=args.m),
        Definition("worst", "l2", rho=0.5, m=args.m),
        Definition("average", "l2", rho=0.1, m=args.m),
        Definition("average", "linf", rho=0.1, m=args.m),
    ]
    print(
        f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}, n={args.n}, m={args.m}, "
        f"clock {'process CPU time' if clock is time.process_time else 'wall'}"
        + (", malloc keeps freed memory" if args.malloc_keep else "")
    )
    if args.kernels:
        kernel_table(models, [(x[:8], y[:8])], device, baseline)  # counts do not depend on m
    if args.no_timing:
        return
    head = f"{'model':14} {'definition':48} {'bound s':>8} {'engine s':>9} {'ratio':>6}"
    if baseline:
        head += f" {'base s':>8} {'base':>6}"
    if args.vmap:
        head += f" {'vmap' + str(args.vmap) + ' s':>9} {'vmap':>6}"
    print(head + f" {'peak MB':>8}")
    for name, model in models.items():
        model.to(device)
        n_params = sum(p.numel() for p in model.parameters())
        lower_bound(model, batches[:1], definitions[0], device)  # warm-up
        for d in definitions:
            runs = {"bound": lambda: lower_bound(model, batches, d, device),
                    "engine": lambda: compute_sharpness(model, batches, d, device=device)}
            if baseline:
                runs["base"] = lambda: baseline(model, batches, d, device=device)
            if args.vmap and d.algorithm == "average":
                runs["vmap"] = lambda: compute_sharpness(model, batches, d, device=device, batch_samples=args.vmap)
            times: dict[str, list[float]] = {key: [] for key in runs}
            for _ in range(args.repeats):  # interleaved, so all see the same machine state
                for key, fn in runs.items():
                    if device.type == "cuda":
                        torch.cuda.synchronize(device)
                        if key == "engine":
                            torch.cuda.reset_peak_memory_stats(device)
                    t = clock()
                    fn()
                    if device.type == "cuda":
                        torch.cuda.synchronize(device)
                    times[key].append(clock() - t)
            best = {key: min(v) for key, v in times.items()}  # best of interleaved repeats: least disturbed
            b = best["bound"]
            line = f"{name:14} {d.id:48} {b:8.3f} {best['engine']:9.3f} {best['engine'] / b:6.3f}"
            if baseline:
                line += f" {best['base']:8.3f} {best['base'] / b:6.3f}"
            if args.vmap:
                line += f" {best['vmap']:9.3f} {best['vmap'] / b:6.3f}" if "vmap" in best else f" {'-':>9} {'-':>6}"
            print(line + f" {peak_mb(device):8.0f}", flush=True)
        print(f"{'':14} ({n_params / 1e6:.2f} M parameters)")


def kernel_table(models: dict[str, nn.Module], batch, device, baseline) -> None:
    engines = {"engine": compute_sharpness} | ({"base": baseline} if baseline else {})
    cuda = device.type == "cuda"
    print("operator events" + (" / CUDA kernels" if cuda else "") + " per noise sample (average) or APGD iteration (worst) beyond the bare passes, one batch of 8", flush=True)
    print(f"{'model':14} {'tensors':>7} {'engine':>6} " + " ".join(f"{a + ' ' + n:>14}" for a in ("average", "worst") for n in ("l2", "linf")))
    for name, model in models.items():
        model.to(device)
        tensors = sum(1 for p in model.parameters() if p.requires_grad)
        for label, engine in engines.items():
            cells = []
            for algorithm in ("average", "worst"):
                for norm in ("l2", "linf"):
                    ops, kernels = kernels_beyond_bound(engine, model, batch, device, algorithm, norm)
                    cells.append(f"{ops:.0f}" + (f"/{kernels:.0f}" if cuda else ""))
            print(f"{name:14} {tensors:7d} {label:>6} " + " ".join(f"{c:>14}" for c in cells), flush=True)


if __name__ == "__main__":
    main()
