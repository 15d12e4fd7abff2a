"""The paper's settings through the workflow: dry runs of config/paper.yaml, a tiny soups study
end to end (real CLIP-format checkpoints over HTTP, a tiny ImageNet folder), clear data_root errors."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from sharpgen import tables
from helpers.clip import TINY, clip_state
from helpers.workflow import REPO, job_counts, snakemake, workdir

pytestmark = pytest.mark.slow
PAPER = REPO / "config" / "paper.yaml"
CIFAR_MODELS = 2 * 3 * 3 * 3  # families x lr_max x SAM rho x augmentation settings, trained here
MODELS = {"augreg": 56, "soups": 72, "bert": 100, "cifar": CIFAR_MODELS}


def paper_workdir(path: Path) -> Path:
    root = workdir(path)
    shutil.copytree(REPO / "config", root / "config", dirs_exist_ok=True)
    return root


def test_paper_config_plans_every_model(tmp_path: Path) -> None:
    root = paper_workdir(tmp_path / "w")
    counts = job_counts(snakemake(root, "-n", "--configfile", "config/paper.yaml").stdout)
    downloaded = MODELS["augreg"] + MODELS["soups"] + MODELS["bert"]
    assert counts["download"] == downloaded + 2  # + augreg index.csv, CIFAR-10 archive
    assert counts["train_model"] == MODELS["cifar"] and "import_checkpoint" not in counts
    assert counts["sharpness"] == sum(MODELS.values())
    assert counts["published_metrics"] == downloaded and counts["evaluate_models"] == MODELS["cifar"]
    assert counts["prepare_subset"] == 4 and counts["prepare_dataset"] == 1
    assert counts["correlate"] == 4 and counts["report"] == 4 and counts["aggregate_history"] == 1
    assert counts["plot_figure"] == 2 + 2 + 2 + 3 and counts["plot_figure_view"] == 2 * 3  # cifar: per family too

    start = time.perf_counter()
    out = snakemake(root, "-n", "--configfile", "config/paper.yaml", "--config", "grid=paper").stdout
    seconds = time.perf_counter() - start
    counts = job_counts(out)
    assert counts["sharpness"] == sum(MODELS.values()) and counts["plot_figure"] > 100
    assert seconds < 30, f"dry run of the paper grid took {seconds:.1f} s"


def _imagenet_folder(root: Path, classes: int = 2, per_class: int = 5) -> None:
    rng = np.random.default_rng(0)
    for c in range(classes):
        folder = root / "train" / f"n0000000{c}"
        folder.mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(folder / f"img_{i}.JPEG")


def _tiny_soups_config(path: Path, base_url: str, data_root: Path, models: int) -> Path:
    config = {
        "settings": ["soups"],
        "grid": "tiny",
        "soups": {
            "models": models,
            "base_url": base_url,
            "arch": TINY,
            "data_root": str(data_root),
            "metrics": "published",
            "sharpness": {"n": 8, "shards": 0},
            "grids": {"tiny": [
                {"algorithm": "worst", "norm": "linf", "variant": "adaptive-lognorm", "rho": 0.002, "m": 4, "n_iters": 3},
                {"algorithm": "average", "norm": "l2", "variant": "adaptive", "rho": 0.1, "m": 4, "n_samples": 2},
            ]},
            "correlation": {"group_by": [], "axes": []},
            "figures": {"targets": ["test_error", "imagenetv2_error"], "color": "lr", "marker": None},
        },
    }
    path.write_text(yaml.safe_dump(config))
    return path


def test_tiny_soups_study_end_to_end(tmp_path: Path, http_server) -> None:
    models = 3
    for i in range(models):
        torch.save(clip_state(torch.Generator().manual_seed(i)), http_server.root / f"model_{i}.pt")
    _imagenet_folder(tmp_path / "imagenet")
    root = paper_workdir(tmp_path / "w")
    config = _tiny_soups_config(tmp_path / "soups.yaml", http_server.base + "/mirror", tmp_path / "imagenet", models)
    (http_server.root / "mirror").mkdir()
    for i in range(models):
        (http_server.root / f"model_{i}.pt").rename(http_server.root / "mirror" / f"model_{i}.pt")
    snakemake(root, "--configfile", str(config))

    t = root / "results" / "tables" / "soups"
    sharp = tables.read(t / "sharpness.parquet", tables.SHARPNESS)
    assert sorted(sharp["model_id"].unique()) == [f"model_{i}" for i in range(models)]
    assert len(sharp) == models * 2 and sharp["sharpness_loss"].notna().all()
    assert (sharp["n_examples"] == 8).all()
    metrics = tables.read(t / "metrics.parquet", tables.METRICS)
    assert "train" not in set(metrics["split"])
    assert {"test", "shift:imagenetv2", "shift:imagenet_r", "shift:imagenet_sketch", "shift:objectnet", "shift:imagenet_a"} == set(metrics["split"])
    row = metrics[(metrics["model_id"] == "model_0") & (metrics["split"] == "test")].iloc[0]
    assert abs(row["error"] - (1 - 0.75574)) < 1e-9 and np.isnan(row["loss"])
    assert metrics["n_examples"].isna().all()  # published accuracies: example counts unknown (null)
    corr = tables.read(t / "correlation.parquet", tables.CORRELATION)
    assert set(corr["target"]) >= {"test_error", "imagenetv2_error"} and (corr["n_models"] == models).all()
    models_table = tables.read(t / "models.parquet", tables.models_schema("soups"))
    assert list(models_table["arch"].unique()) == [TINY]
    assert all(u.startswith(http_server.base + "/mirror/") for u in models_table["url"])
    assert (root / "results" / "report" / "soups.md").is_file()
    assert all(path.startswith("/mirror/") for path, _ in http_server.state.requests)


def test_missing_data_root_names_the_config_key(tmp_path: Path, http_server) -> None:
    root = paper_workdir(tmp_path / "w")
    config = _tiny_soups_config(tmp_path / "soups.yaml", http_server.base, tmp_path / "nowhere", 1)
    result = snakemake(root, "results/data/soups/subset.pt", "--configfile", str(config), check=False)
    assert result.returncode != 0
    log = (root / "results" / "logs" / "prepare_subset" / "soups.log").read_text()
    assert "soups.data_root" in log and "train/<wnid>/*.JPEG" in log and str(tmp_path / "nowhere") in log
