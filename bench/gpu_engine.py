"""GPU engine benchmark: batched vs loop average-case, APGD against the bound, and precision.

One run, no downloads (random weights; timm models built with pretrained=False):

    PYTHONPATH=src python bench/gpu_engine.py            # CUDA: CIFAR ResNet-18 (m=128, 32 px), ViT-B/16 (224 px)
    PYTHONPATH=src python bench/gpu_engine.py --quick    # tiny models, runs on CPU too (a smoke test)

Tables printed:

1. Average case (n_samples=20, one batch of m): noise samples per second of the engine's loop
   (batch_samples=1, the default), of batched evaluation through torch.func.vmap (the chunk that fits and fixed sizes),
   and of the authors' per-sample loop as the reference describes it (deep-copy the model, then
   per sample: add noise to every parameter in place, forward, restore). "x bound" is time over
   the bare lower bound, n_samples + 1 plain forwards of the model.
2. Worst case linf APGD (20 iterations): seconds per batch against the bound of
   20 x (forward + backward) + 1 forward.
3. Precision: avg-l2 and worst-linf (adaptive + logit-normalised) under fp32 with TF32 off (the
   engine's policy), with TF32 on, and under bfloat16 autocast; absolute and relative
   differences to fp32. The same seed gives the same noise in every mode, so differences are
   rounding only.

Times are the best of --repeats runs (the first run also serves as warm-up).
"""

from __future__ import annotations

import argparse
import copy
import math
import time

import torch
from torch import nn
from torch.nn import functional as F

from sharpgen.calibration import activation_bytes
from sharpgen.networks.architectures import preact_resnet18

from sharpgen.sharpness import Definition, compute_sharpness, normalize_logits, split_batches
from sharpgen.sharpness.average import vmap_chunk


def calibrate_batchnorm(model: nn.Module, x: torch.Tensor) -> None:
    """Running statistics from a few train-mode passes (random-init BN stats are 0 / 1)."""
    if not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        return
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(x)
    model.eval()


class Precision(nn.Module):
    """The model under one precision mode, set inside its forward: the engine switches TF32 off
    for the whole computation, so TF32 is switched back on per forward to measure what it costs;
    bf16 runs the forward under autocast and returns float32 logits."""

    def __init__(self, inner: nn.Module, mode: str) -> None:
        super().__init__()
        self.inner, self.mode = inner, mode

    def forward(self, x):
        if self.mode == "tf32":
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        if self.mode == "bf16":
            with torch.autocast(x.device.type, dtype=torch.bfloat16):
                return self.inner(x).float()
        return self.inner(x)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_time(fn, device: torch.device, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        sync(device)
        t = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t)
    return min(times)


def bare_forwards(model: nn.Module, batches, passes: int, device: torch.device) -> None:
    with torch.no_grad():
        for x, y in batches:
            for _ in range(passes):
                F.cross_entropy(model(x), y)


def bare_apgd_bound(model: nn.Module, batches, n_iters: int) -> None:
    for x, y in batches:
        for _ in range(n_iters):
            model.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
        with torch.no_grad():
            F.cross_entropy(model(x), y)
    model.zero_grad(set_to_none=True)


def authors_average_loop(model: nn.Module, batches, d: Definition, seed: int = 0) -> float:
    """The authors' per-sample average case as the reference describes it: a deep copy of the
    model, then for every sample add noise to each parameter in place, forward, restore."""
    values = []
    g = torch.Generator(device=next(model.parameters()).device).manual_seed(seed)
    for x, y in batches:
        net = copy.deepcopy(model).eval()
        params = [p for p in net.parameters() if p.requires_grad]
        originals = [p.detach().clone() for p in params]
        with torch.no_grad():
            out = net(x)
            clean = F.cross_entropy(normalize_logits(out) if d.logit_norm else out, y).item()
            total = 0.0
            for _ in range(d.n_samples):
                for p, w in zip(params, originals):
                    noise = torch.randn(p.shape, generator=g, device=p.device, dtype=p.dtype)
                    p.add_(noise * (w.abs() if d.adaptive else 1.0) * d.rho)
                out = net(x)
                total += F.cross_entropy(normalize_logits(out) if d.logit_norm else out, y).item()
                for p, w in zip(params, originals):
                    p.copy_(w)
        values.append(total / d.n_samples - clean)
    return sum(values) / len(values)


def speed(name: str, model: nn.Module, batches, cfg: dict, device: torch.device, args) -> None:
    d_avg = Definition("average", "l2", rho=cfg["rho_avg"], m=cfg["m"], n_samples=cfg["n_samples"])
    d_worst = Definition("worst", "linf", rho=cfg["rho_worst"], m=cfg["m"], n_iters=cfg["n_iters"])
    n_params = sum(p.numel() for p in model.parameters())
    act = activation_bytes(model, batches[0][0], device)
    auto_k = vmap_chunk(n_params, 4, d_avg.n_samples, device, act)
    samples = d_avg.n_samples * len(batches)
    print(
        f"\n{name}: {n_params / 1e6:.2f} M parameters, m={cfg['m']}, input {tuple(batches[0][0].shape[1:])}, "
        f"n_samples={d_avg.n_samples}, vmap chunk that fits={auto_k}"
        + (f" (one forward's activations {act / 2**30:.2f} GiB)" if act is not None else "")
    )
    bound = best_time(lambda: bare_forwards(model, batches, d_avg.n_samples + 1, device), device, args.repeats)
    print(f"  {'average l2 (adaptive, lognorm)':34} {'s/batch':>9} {'samples/s':>10} {'x bound':>8} {'peak GiB':>9}")
    print(f"  {'bound: bare forwards':34} {bound / len(batches):9.3f} {samples / bound:10.1f} {1.0:8.2f}")
    chunks = list(dict.fromkeys([1, auto_k, *cfg["chunks"]]))
    for k in chunks:
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        try:
            t = best_time(lambda: compute_sharpness(model, batches, d_avg, device=device, batch_samples=k), device, args.repeats)
        except Exception as error:  # noqa: BLE001 - one run must report every row
            print(f"  {'engine batch_samples=' + str(k):34} failed: {type(error).__name__}: {str(error)[:200]}")
            continue
        peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
        label = "engine loop (batch_samples=1, auto)" if k == 1 else f"engine vmap batch_samples={k}"
        print(f"  {label:34} {t / len(batches):9.3f} {samples / t:10.1f} {t / bound:8.2f} {peak:9.2f}")
    t = best_time(lambda: authors_average_loop(model, batches, d_avg), device, args.repeats)
    print(f"  {'authors-style per-sample loop':34} {t / len(batches):9.3f} {samples / t:10.1f} {t / bound:8.2f}")

    bound_w = best_time(lambda: bare_apgd_bound(model, batches, d_worst.n_iters), device, args.repeats)
    t_w = best_time(lambda: compute_sharpness(model, batches, d_worst, device=device), device, args.repeats)
    print(f"  {'worst linf APGD, ' + str(d_worst.n_iters) + ' iterations':34} {'s/batch':>9} {'':>10} {'x bound':>8}")
    print(f"  {'bound: it x (fwd+bwd) + 1 fwd':34} {bound_w / len(batches):9.3f} {'':>10} {1.0:8.2f}")
    print(f"  {'engine':34} {t_w / len(batches):9.3f} {'':>10} {t_w / bound_w:8.2f}")


def precision(name: str, model: nn.Module, batches, cfg: dict, device: torch.device) -> None:
    defs = [
        Definition("average", "l2", rho=cfg["rho_avg"], m=cfg["m"], n_samples=cfg["n_samples"]),
        Definition("worst", "linf", rho=cfg["rho_worst"], m=cfg["m"], n_iters=cfg["n_iters"]),
    ]
    modes = ["fp32", "tf32", "bf16"]
    print(f"  precision ({name})")
    print(f"  {'definition':46} {'mode':5} {'sharpness':>13} {'abs diff':>10} {'rel diff':>9} {'clean loss':>11}")
    for d in defs:
        ref = None
        for mode in modes:
            r = compute_sharpness(Precision(model, mode), batches, d, device=device)
            if ref is None:
                ref = r.sharpness_loss
            diff = r.sharpness_loss - ref
            rel = abs(diff) / abs(ref) if ref else math.nan
            print(f"  {d.id:46} {mode:5} {r.sharpness_loss:13.6e} {diff:10.2e} {rel:9.2e} {r.clean_loss:11.6f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny models and few samples (CPU smoke test)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--vit-m", type=int, default=128, help="ViT-B/16 batch size (64 if memory or time demand)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--skip", nargs="*", default=[], choices=["speed", "precision"])
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    if args.quick:
        from timm.models.vision_transformer import VisionTransformer

        torch.set_num_threads(min(2, torch.get_num_threads()))
        models = {
            "resnet18-w8 (quick)": (lambda: preact_resnet18(width=8), (3, 32, 32), 10),
            "vit-tiny (quick)": (
                lambda: VisionTransformer(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, num_classes=10),
                (3, 32, 32),
                10,
            ),
        }
        cfg = {"m": 16, "n_samples": 4, "n_iters": 3, "chunks": [2, 4]}
    else:
        import timm

        models = {
            "resnet18 (CIFAR, pre-act, w64)": (lambda: preact_resnet18(width=64), (3, 32, 32), 10),
            "vit_base_patch16_224": (
                lambda: timm.create_model("vit_base_patch16_224", pretrained=False, num_classes=1000),
                (3, 224, 224),
                1000,
            ),
        }
        cfg = {"m": 128, "n_samples": 20, "n_iters": 20, "chunks": [4, 10]}
    rhos = {  # adaptive + lognorm values from the authors' grids
        "resnet": {"rho_avg": 0.1, "rho_worst": 0.002},
        "vit": {"rho_avg": 0.2, "rho_worst": 0.001},
    }
    name0 = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"device {device} ({name0}), torch {torch.__version__}, repeats {args.repeats} (best of)")
    start = time.perf_counter()
    for name, (build, shape, classes) in models.items():
        model_cfg = dict(cfg, **rhos["vit" if "vit" in name else "resnet"])
        if "vit_base" in name:
            model_cfg["m"] = args.vit_m
        model = build().to(device)
        x = torch.randn(model_cfg["m"], *shape, device=device)
        y = torch.randint(0, classes, (model_cfg["m"],), device=device)
        calibrate_batchnorm(model, x)
        model.eval()
        batches = split_batches(x, y, model_cfg["m"])
        if "speed" not in args.skip:
            speed(name, model, batches, model_cfg, device, args)
        if "precision" not in args.skip:
            precision(name, model, batches, model_cfg, device)
        del model, batches, x, y
        if device.type == "cuda":
            torch.cuda.empty_cache()
        print(f"  [{time.perf_counter() - start:.0f} s elapsed]", flush=True)


if __name__ == "__main__":
    main()
