"""CIFAR-10 end to end on CPU: train two tiny families for one epoch on a CIFAR-10-format
fixture, evaluate as the authors (train subset, test, robustbench's CIFAR-10-C mix), per-family
sharpness grids, tau tables and figures per family; and the full grid's dry run."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from helpers.cifar import cifar10_archive, cifar10c_folder
from helpers.workflow import REPO, job_counts, snakemake, workdir

pytestmark = pytest.mark.slow

TINY_GRID = [
    {"models": {"family": "resnet18"}, "algorithm": "worst", "norm": "linf", "variant": ["adaptive", "adaptive-lognorm"], "rho": [0.002], "m": 16, "n_iters": 2},
    {"models": {"family": "vit_exp"}, "algorithm": "worst", "norm": "linf", "variant": "adaptive-lognorm", "rho": [0.001], "m": [16, 32], "n_iters": 2},
    {"algorithm": "average", "norm": "l2", "variant": "adaptive-lognorm", "rho": 0.1, "m": 16, "n_samples": 2},
]


def _config(root: Path, data_url: str) -> Path:
    config = {
        "settings": ["cifar"],
        "grid": "tiny",
        "trust_first_download": True,  # the served archive is made here: no digest is published
        "cifar": {
            "data_url": data_url,
            "data_root": str(root / "data"),
            "cifar10c": {"n": 40, "pool": 45},
            "zoo": {
                "families": {
                    "resnet18": {"lr_max": [0.05], "width": 4},
                    "vit_exp": {"lr_max": [0.01], "width": 16, "depth": 1, "heads": 2},
                },
                "augm": [True], "randaug": [False, True], "epochs": 1, "batch_size": 32,
            },
            # one sharpness job for all four models: each computes only its family's definitions
            "sharpness": {"n": 32, "shards": 1, "max_train_error": 1.0},
            "grids": {"tiny": TINY_GRID},
            "correlation": {"group_by": ["family", "family+randaug"], "axes": ["family", "lr_bin", "randaug"]},
            "figures": {"targets": ["test_error", "cifar10c_error"], "color": "lr", "marker": "randaug", "split_by": "family"},
        },
    }
    path = root / "tiny-cifar.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_tiny_cifar_study_trains_evaluates_and_measures_two_families(http_server, tmp_path: Path) -> None:
    cifar10_archive(http_server.root / "cifar-10-python.tar.gz", per_batch=32, test=40)
    root = workdir(tmp_path / "w")
    cifar10c_folder(root / "data" / "CIFAR-10-C", per_severity=4)
    config = _config(root, http_server.url("cifar-10-python.tar.gz"))
    counts = job_counts(snakemake(root, "-n", "--configfile", str(config)).stdout)
    # figures: the resnet pair adaptive / adaptive-lognorm is one figure (two rows), the vit's two
    # m and the shared average-case one figure each; per family its own and the shared one
    assert counts["train_model"] == 4 and counts["sharpness"] == 1 and counts["plot_figure"] == 4
    assert counts["plot_figure_view"] == (1 + 1) + (2 + 1)

    snakemake(root, "--configfile", str(config))
    results = root / "results"
    history = pd.read_parquet(results / "tables" / "cifar" / "history.parquet")
    assert len(history) == 4 and set(history["epoch"]) == {1}
    for family, rows in history.assign(family=history["model_id"].str.split("-").str[0]).groupby("family"):
        print(f"{family}: {rows['seconds'].mean():.2f} s per epoch (160 images, batch 32)")

    ckpt = torch.load(next((results / "models" / "cifar").glob("resnet18*/checkpoint.pt")), weights_only=True)
    assert set(ckpt) == {"last"} and "layer2.0.shortcut.0.weight" in ckpt["last"]

    metrics = pd.read_parquet(results / "tables" / "cifar" / "metrics.parquet")
    sizes = metrics.groupby("split")["n_examples"].first().to_dict()
    assert sizes == {"train": 160, "test": 40, "shift:cifar10c": 40}

    sharp = pd.read_parquet(results / "tables" / "cifar" / "sharpness.parquet")
    per_model = sharp.groupby("model_id")["definition"].apply(set)
    resnet = {d for m, ds in per_model.items() if m.startswith("resnet18") for d in ds}
    vit = {d for m, ds in per_model.items() if m.startswith("vit_exp") for d in ds}
    shared = resnet & vit
    assert len(resnet) == 3 and len(vit) == 3 and len(shared) == 1 and next(iter(shared)).startswith("average_l2")
    assert sharp.groupby("model_id").size().tolist() == [3, 3, 3, 3]

    markdown = (results / "tables" / "cifar" / "correlation.md").read_text()
    assert "## family=resnet18" in markdown and "## family=vit_exp,randaug=True" in markdown
    figures = results / "figures" / "cifar"
    assert len(list(figures.glob("*.png"))) == 4  # the resnet's lognorm twin is the top row of its figure
    assert len(list((figures / "family=resnet18").glob("*.png"))) == 2 and len(list((figures / "family=vit_exp").glob("*.png"))) == 3
    assert (results / "report" / "cifar.md").is_file()


def test_full_cifar_grid_plans_in_seconds(tmp_path: Path) -> None:
    root = workdir(tmp_path / "w")
    shutil.copytree(REPO / "config", root / "config", dirs_exist_ok=True)
    paper = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    config = {"settings": ["cifar"], "grid": "paper", "cifar": paper["cifar"]}
    (root / "cifar.yaml").write_text(yaml.safe_dump(config))
    start = time.perf_counter()
    counts = job_counts(snakemake(root, "-n", "--configfile", "cifar.yaml").stdout)
    seconds = time.perf_counter() - start
    print(f"full CIFAR grid: {sum(counts.values())} jobs planned in {seconds:.1f} s: {counts}")
    assert counts["train_model"] == 2 * 3 * 3 * 3 and counts["sharpness"] == 54 and counts["evaluate_models"] == 54
    # each family: 48 definitions as 32 figures (the adaptive ones with their logit-normalised
    # twin as the top row) + 12 of the m-ablation (m = 16, 32, 64 at 4 radii; no twin) + 5 of
    # appendix H's ablations (n_iters 5, 10, 50; data test, augmented; no twin)
    assert counts["plot_figure_view"] == 2 * (32 + 12 + 5)
    assert seconds < 30
