"""The paper's settings through the workflow: dry runs of config/paper.yaml; each paper setting
end to end with its own block of config/paper.yaml on tiny artifacts in the upstream formats over
HTTP (soups: CLIP state dicts, published metrics; augreg: vit_jax .npz, ImageNet val and the five
shift sets evaluated; bert: TF1 checkpoint archives, MNLI dev and HANS evaluated) through figures
and report; clear data_root errors."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from sharpgen import tables
from helpers.clip import TINY, clip_state
from helpers.imagenet import imagenet_train, shift_sets
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
    # + Google's BERT-base (vocab.txt), CIFAR-10 archive, AugReg's index.csv (its published accuracies: drift)
    assert counts["download"] == downloaded + 3
    assert counts["train_model"] == MODELS["cifar"] and "import_checkpoint" not in counts
    assert counts["sharpness"] == sum(MODELS.values())
    # augreg is evaluated (AugReg publishes no shift sets); its published ImageNet accuracies are
    # read too, for the drift table (cifar's zoo publishes none)
    published = MODELS["soups"] + MODELS["bert"] + MODELS["augreg"]
    assert counts["published_metrics"] == published and counts["evaluate_models"] == MODELS["augreg"] + MODELS["cifar"]
    assert counts["drift"] == 1
    assert counts["prepare_subset"] == 4 and counts["prepare_dataset"] == 2
    assert counts["correlate"] == 4 and counts["report"] == 4 and counts["aggregate_history"] == 1
    # one figure per definition and its lognorm twin; cifar also per family
    assert counts["plot_figure"] == 1 + 1 + 1 + 2 and counts["plot_figure_view"] == 2 * 2

    start = time.perf_counter()
    out = snakemake(root, "-n", "--configfile", "config/paper.yaml", "--config", "grid=paper").stdout
    seconds = time.perf_counter() - start
    counts = job_counts(out)
    assert counts["sharpness"] == sum(MODELS.values()) and counts["plot_figure"] > 100
    assert seconds < 30, f"dry run of the paper grid took {seconds:.1f} s"


TWINS = [  # one figure: the same definition without and with logit normalisation
    {"algorithm": "worst", "norm": "linf", "variant": ["adaptive", "adaptive-lognorm"], "rho": 0.002, "m": 4, "n_iters": 2},
]


def _paper_config(path: Path, setting: str, **overrides) -> Path:
    """config/paper.yaml's block of ``setting`` with tiny ``overrides`` (models, data, grid)."""
    block = yaml.safe_load(PAPER.read_text())[setting]
    block.update({"grids": {"tiny": TWINS}, "sharpness": {"n": 8, "shards": 0}}, **overrides)
    # the served checkpoints are made here: no digest is published, so their first download is trusted
    path.write_text(yaml.safe_dump({"settings": [setting], "grid": "tiny", "trust_first_download": True, setting: block}))
    return path


def _tiny_soups_config(path: Path, base_url: str, data_root: Path, models: int) -> Path:
    return _paper_config(path, "soups", models=models, base_url=base_url, arch=TINY, data_root=str(data_root))


def _check_subset(root: Path, setting: str, histogram: list[int]) -> None:
    """The sharpness subset's table is written and balanced; its histogram is in the job log."""
    subset = tables.read(root / "results" / "data" / setting / "subset.parquet", tables.SUBSET)
    assert subset["position"].tolist() == list(range(8))
    assert sorted(np.bincount(subset["label"]).tolist(), reverse=True)[: len(histogram)] == histogram
    assert "class histogram:" in (root / "results" / "logs" / "prepare_subset" / f"{setting}.log").read_text()


def _check_figure_and_report(root: Path, setting: str) -> None:
    figures = sorted((root / "results" / "figures" / setting).glob("*.png"))
    assert [f.name for f in figures] == ["worst_linf_adaptive_rho0.002_m4_it2.png"]
    report = (root / "results" / "report" / f"{setting}.md").read_text()
    assert "worst_linf_adaptive_rho0.002_m4_it2" in report


def test_tiny_soups_study_end_to_end(tmp_path: Path, http_server) -> None:
    models = 3
    for i in range(models):
        torch.save(clip_state(torch.Generator().manual_seed(i)), http_server.root / f"model_{i}.pt")
    imagenet_train(tmp_path / "imagenet", classes=4, per_class=3)
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
    assert set(corr["target"]) >= {"test_error", "imagenetv2_error"}
    errors = corr[(corr["subgroup"] == "all") & corr["target"].str.endswith("_error")]
    assert (errors["n_models"] == models).all()
    lr = corr[(corr["subgroup"] == "all") & (corr["target"] == "lr")]
    assert (lr["n_models"] == models - 1).all()  # model_0, the linear-probe init, has no fine-tuning lr
    models_table = tables.read(t / "models.parquet", tables.models_schema("soups"))
    assert list(models_table["arch"].unique()) == [TINY]
    assert all(u.startswith(http_server.base + "/mirror/") for u in models_table["url"])
    assert models_table["randaug"].isna().sum() == 1  # model_0, the linear probe: marker "n/a"
    _check_subset(root, "soups", [2, 2, 2, 2])
    _check_figure_and_report(root, "soups")
    assert all(path.startswith("/mirror/") for path, _ in http_server.state.requests)


def test_missing_data_root_names_the_config_key(tmp_path: Path, http_server) -> None:
    root = paper_workdir(tmp_path / "w")
    config = _tiny_soups_config(tmp_path / "soups.yaml", http_server.base, tmp_path / "nowhere", 1)
    result = snakemake(root, "results/data/soups/subset.pt", "--configfile", str(config), check=False)
    assert result.returncode != 0
    log = (root / "results" / "logs" / "prepare_subset" / "soups.log").read_text()
    assert "soups.data_root" in log and "train/<wnid>/*.JPEG" in log and str(tmp_path / "nowhere") in log


AUGREG_TINY = "vit_base_patch16_224?img_size=32&embed_dim=24&depth=1&num_heads=2"  # 1,000 classes


def test_tiny_augreg_study_evaluates_imagenet_and_shifts(tmp_path: Path, http_server) -> None:
    import timm

    from helpers.bigvision import vit_to_npz
    from sharpgen.settings.augreg import INDEX_COLUMNS, grid_sheet

    names = list(grid_sheet()["model_id"][:2])
    (http_server.root / "mirror").mkdir()
    for i, name in enumerate(names):
        torch.manual_seed(i)
        model = timm.create_model("vit_base_patch16_224", pretrained=False, img_size=32, embed_dim=24, depth=1, num_heads=2)
        with torch.no_grad():
            for p in model.parameters():
                p.normal_(0, 0.2)
        vit_to_npz(model, http_server.root / "mirror" / f"{name}.npz")
    # AugReg's index for the two models: 3 test images make our accuracy a multiple of 1/3, so
    # the first drifts for sure; the second only if the random model gets an image right
    published = {names[0]: 0.7512, names[1]: 0.0}
    index = pd.DataFrame([{c: "" for c in INDEX_COLUMNS} | {"adapt_filename": n, "adapt_final_test": a} for n, a in published.items()])
    index.to_csv(http_server.root / "mirror" / "index.csv", index=False)
    data = shift_sets(imagenet_train(tmp_path / "imagenet", classes=4, per_class=3))
    config = _paper_config(tmp_path / "augreg.yaml", "augreg", models=2, base_url=http_server.base + "/mirror",
                           arch=AUGREG_TINY, data_root=str(data), train_n=6)
    root = paper_workdir(tmp_path / "w")
    snakemake(root, "--configfile", str(config))

    t = root / "results" / "tables" / "augreg"
    metrics = tables.read(t / "metrics.parquet", tables.METRICS)
    splits = {"train", "test", "shift:imagenetv2", "shift:imagenet_r", "shift:imagenet_sketch", "shift:imagenet_a", "shift:objectnet"}
    assert set(metrics["split"]) == splits and len(metrics) == 2 * len(splits)
    counts = metrics.groupby("split")["n_examples"].first().to_dict()
    assert counts == {"train": 6, "test": 3, "shift:imagenetv2": 3, "shift:imagenet_sketch": 3, "shift:imagenet_r": 2,
                      "shift:imagenet_a": 2, "shift:objectnet": 2}
    assert metrics["loss"].notna().all() and metrics["error"].between(0, 1).all()
    split = root / "results" / "data" / "augreg" / "split.parquet"
    assert set(pd.read_parquet(split)["split"]) == splits
    sharp = tables.read(t / "sharpness.parquet", tables.SHARPNESS)
    assert len(sharp) == 4 and sharp["sharpness_loss"].notna().all()
    corr = tables.read(t / "correlation.parquet", tables.CORRELATION)
    assert {"test_error", "imagenet_r_error", "objectnet_error", "gen_gap_error"} <= set(corr["target"])
    _check_subset(root, "augreg", [2, 2, 2, 2])
    _check_figure_and_report(root, "augreg")
    # the published accuracies (index.csv, from the mirror) beside the evaluated ones
    drift = tables.read(t / "drift.parquet", tables.DRIFT)
    assert list(drift["split"]) == ["test", "test"] and list(drift["model_id"]) == sorted(names)
    evaluated = metrics[metrics["split"] == "test"].set_index("model_id")["error"]
    for _, row in drift.iterrows():
        assert row["evaluated_accuracy"] == pytest.approx(1 - evaluated[row["model_id"]])
        assert row["published_accuracy"] == pytest.approx(published[row["model_id"]])
        assert row["drifted"] == (abs(row["difference_points"]) > 0.5)
    report = (root / "results" / "report" / "augreg.md").read_text()
    html = (root / "results" / "report" / "augreg.html").read_text()
    drifted = sorted(drift.loc[drift["drifted"], "model_id"])
    assert names[0] in drifted and all(f"Warning:** {len(drifted)} of 2 models" in report and m in report for m in drifted)
    assert "Accuracy drift" in html and all(m in html for m in drifted)
    assert report.index("## Reproduction") < report.index("## Accuracy drift") < report.index("# Kendall tau")
    repro = tables.read(t / "reproduction.parquet", tables.REPRODUCTION)  # the paper's values: not in this tiny grid
    assert set(repro["paper_value"]) == {-0.42, 0.08} and (repro["n_models"] == 0).all()


def test_tiny_bert_study_evaluates_mnli_and_hans(tmp_path: Path, http_server) -> None:
    from helpers.bert import ARCH, write_archive, write_google_archive
    from sharpgen.data.sources.mnli import HANS_COLUMNS
    from sharpgen.settings.bert import GOOGLE_ARCHIVE

    mirror = http_server.root / "mirror"
    mirror.mkdir()
    write_archive(mirror / "bert_00.zip", seed=0)
    write_archive(mirror / "bert_01.zip", seed=1, with_meta=False)  # checkpoint only: BERT-base config via arch
    write_google_archive(mirror / GOOGLE_ARCHIVE)
    data = tmp_path / "mnli"
    data.mkdir()
    header = "index\tpairID\tsentence1\tsentence2\tlabel1\tgold_label\n"
    labels = ["entailment", "neutral", "contradiction"]
    pairs = [("the dog runs .", "a man is sleeping ."), ("a woman reads a book .", "the cat sits on the mat ."),
             ("the man sits .", "the dog runs on the mat .")]
    train = [f"{i}\tp{i}\t{a}\t{b}\t{labels[i % 3]}\t{labels[i % 3]}" for i, (a, b) in enumerate(pairs * 5)]
    (data / "train.tsv").write_text(header + "\n".join(train) + "\n")
    (data / "dev_matched.tsv").write_text(header + "\n".join(train[:6]) + "\n")
    hans = []
    for h in ("lexical_overlap", "subsequence", "constituent"):
        for gold in ("entailment", "non-entailment"):
            for a, b in pairs[:2]:
                hans.append([gold, "(x)", "(y)", "(X)", "(Y)", a, b, f"ex{len(hans)}", h, f"{h[:2]}_case", "temp1"])
    (data / "heuristics_evaluation_set.txt").write_text("\t".join(HANS_COLUMNS) + "\n" + "\n".join("\t".join(r) for r in hans) + "\n")
    config = _paper_config(tmp_path / "bert.yaml", "bert", models=2, base_url=http_server.base + "/mirror", arch=ARCH,
                           data_root=str(data), metrics="evaluate", train_n=9)
    root = paper_workdir(tmp_path / "w")
    snakemake(root, "--configfile", str(config))

    t = root / "results" / "tables" / "bert"
    metrics = tables.read(t / "metrics.parquet", tables.METRICS)
    hans_splits = {f"shift:hans_{h}_{e}" for h in ("lexical", "subsequence", "constituent") for e in ("entailed", "nonentailed")}
    assert set(metrics["split"]) == {"train", "test", *hans_splits}
    counts = metrics.groupby("split")["n_examples"].first().to_dict()
    assert counts["train"] == 9 and counts["test"] == 6 and all(counts[s] == 2 for s in hans_splits)
    assert metrics["loss"].notna().all()
    sharp = tables.read(t / "sharpness.parquet", tables.SHARPNESS)
    assert sorted(sharp["model_id"].unique()) == ["bert_00", "bert_01"] and sharp["sharpness_loss"].notna().all()
    _check_subset(root, "bert", [3, 3, 2])
    _check_figure_and_report(root, "bert")
    assert (root / "results" / "downloads" / "bert" / GOOGLE_ARCHIVE).is_file()
