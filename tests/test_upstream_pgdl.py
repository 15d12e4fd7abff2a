"""PGDL models and records against Keras/TensorFlow themselves (helpers.pgdl_keras, run in its own
process): every architecture family's logits, records read back exactly, and a phase archive of
two tasks served on 127.0.0.1 through the workflow (evaluated accuracies equal Keras' own)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from sharpgen.data import tfrecord
from sharpgen.networks import keras_h5

TESTS = Path(__file__).parent
QUIET_TF = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
FAMILIES = ("vgg", "nin", "nin_dense", "fcn_bn", "fcn", "mlp")


@pytest.fixture(scope="module")
def upstream(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pgdl_keras")
    subprocess.run([sys.executable, "-m", "helpers.pgdl_keras", str(root)], cwd=TESTS, check=True, env=QUIET_TF)
    return root


def _forward(model: torch.nn.Module, inputs: np.ndarray) -> np.ndarray:
    x = torch.from_numpy(inputs)
    x = x.permute(0, 3, 1, 2) if x.dim() == 4 else x  # the records' NHWC -> NCHW
    with torch.inference_mode():
        return model(x).numpy()


@pytest.mark.parametrize("family", FAMILIES)
def test_logits_equal_keras_for_every_architecture_family(upstream: Path, family: str) -> None:
    folder = upstream / family
    reference = np.load(folder / "reference.npz")
    model = keras_h5.load(folder / "config.json", folder / "weights.hdf5")
    outputs = _forward(model, reference["inputs"])
    difference = float(np.abs(outputs - reference["outputs"]).max())
    print(f"{family}: max |torch - keras| = {difference:.2e} (outputs up to {np.abs(reference['outputs']).max():.2f})")
    assert outputs.shape == reference["outputs"].shape
    assert difference <= 1e-5
    with h5py.File(folder / "weights.hdf5") as f:  # every weight of the file is in the model
        n_file = sum(int(np.prod(f[name][w].shape)) for name in f.attrs["layer_names"] for w in f[name].attrs["weight_names"])
    n_model = sum(t.numel() for k, t in model.state_dict().items() if not k.endswith("num_batches_tracked"))
    assert n_model == n_file


@pytest.mark.parametrize("family", FAMILIES)
def test_keras2_files_load_with_logits_and_the_kits_baselines_of_keras2(upstream: Path, family: str) -> None:
    """Files written by Keras 2 (tf_keras; weight names ``<layer>/kernel:0``, under
    ``model_weights/`` in a whole-model file): logits equal Keras 2's forward; the starting kit's
    Jacobian baseline (TensorFlow's autodiff) equals our jacobian_norm; its baseline 1 (squared
    distance over all Keras weights) is our dist_init squared where there is no batch norm."""
    from sharpgen.measures import Measure, compute_measure

    folder = upstream / "keras2" / family
    reference = np.load(folder / "reference.npz")
    with h5py.File(folder / "model.h5") as f:
        names = [w.decode() if isinstance(w, bytes) else w for n in f["model_weights"].attrs["layer_names"]
                 for w in f["model_weights"][n].attrs["weight_names"]]
        assert names and all(w.endswith(":0") for w in names)
    for weights in ("weights.hdf5", "model.h5"):
        model = keras_h5.load(folder / "config.json", folder / weights)
        difference = float(np.abs(_forward(model, reference["inputs"]) - reference["outputs"]).max())
        print(f"keras 2 {family} {weights}: max |torch - keras| = {difference:.2e}")
        assert difference <= 1e-5
    x = torch.from_numpy(reference["inputs"])
    x = x.permute(0, 3, 1, 2) if x.dim() == 4 else x
    data = (x, torch.zeros(len(x), dtype=torch.int64))
    if "jacobian_norm" in reference:  # the families that hold every layer type (helpers.pgdl_keras)
        ours = compute_measure(Measure("jacobian_norm", n=len(x)), model, data, None)
        print(f"keras 2 {family}: jacobian_norm {ours:.6e}, kit {float(reference['jacobian_norm']):.6e}")
        assert ours == pytest.approx(float(reference["jacobian_norm"]), rel=1e-5)
    init = keras_h5.load(folder / "config.json", folder / "weights_init.hdf5").state_dict()
    distance = compute_measure(Measure("dist_init"), model, data, init)
    has_batch_norm = any(layer["layer_name"] == "BatchNormalization" for layer in json.loads((folder / "config.json").read_text())["model_config"])
    assert (distance**2 == pytest.approx(float(reference["kit_distance"]), rel=1e-5)) != has_batch_norm


def test_a_layer_this_module_does_not_implement_is_named(upstream: Path, tmp_path: Path) -> None:
    config = json.loads((upstream / "vgg" / "config.json").read_text())
    config["model_config"][2] = {"layer_name": "SpatialDropout2D", "rate": 0.1}
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"config.json: layer 2 \('SpatialDropout2D'\).*not supported"):
        keras_h5.load(tmp_path / "config.json", upstream / "vgg" / "weights.hdf5")


def test_weights_of_another_architecture_are_refused(upstream: Path) -> None:
    with pytest.raises(ValueError, match="weights.hdf5: .*layers with weights"):
        keras_h5.load(upstream / "vgg" / "config.json", upstream / "nin" / "weights.hdf5")


def test_records_written_by_tensorflow_read_back_exactly(upstream: Path) -> None:
    written = np.load(upstream / "records.npz")
    examples = [tfrecord.parse_example(r) for r in tfrecord.records(upstream / "records" / "shard_0.tfrecord")]
    assert len(examples) == len(written["images"])
    for ex, image, label in zip(examples, written["images"], written["labels"]):
        inputs, output = tfrecord.parse_tensor(ex["inputs"][0]), tfrecord.parse_tensor(ex["output"][0])
        assert inputs.dtype == np.float32 and inputs.shape == image.shape and np.array_equal(inputs, image)
        assert output.dtype == np.int32 and output.shape == () and output == label
    lists = [tfrecord.parse_example(r) for r in tfrecord.records(upstream / "records" / "lists.tfrecord")]
    assert np.array_equal(np.stack([ex["floats"] for ex in lists]), written["floats"])
    assert np.array_equal(np.stack([ex["ints"] for ex in lists]), written["ints"])
    assert all(ex["names"] == [b"a", b"\x00b"] for ex in lists)
    assert len(list(tfrecord.records(upstream / "records" / "shard_0.tfrecord", limit=2))) == 2


def test_a_damaged_record_is_refused_with_the_file_named(upstream: Path, tmp_path: Path) -> None:
    original = (upstream / "records" / "shard_0.tfrecord").read_bytes()
    data = bytearray(original)
    data[20] ^= 0xFF  # a byte of the first record's data
    bad = tmp_path / "bad.tfrecord"
    bad.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="bad.tfrecord: record 0 has a bad data checksum"):
        list(tfrecord.records(bad))
    bad.write_bytes(original[:-3])
    with pytest.raises(ValueError, match="truncated"):
        list(tfrecord.records(bad))


def test_the_task_sheet_maps_the_archives_hyperparameters_by_their_values(upstream: Path) -> None:
    """The archive's names (convwidth, l2, ...) become the README's columns, typed; accuracies published."""
    from sharpgen import plan

    sheet = plan.model_sheet("pgdl_task1", {"root": str(upstream / "archive")})
    assert list(sheet["model_id"]) == ["model_0", "model_1", "model_2", "model_3"]
    assert list(sheet["last_conv_filters"]) == [256, 512, 256, 512] and sheet["last_conv_filters"].dtype == np.int64
    assert list(sheet["weight_decay"]) == [0.0, 0.001, 0.001, 0.0] and list(sheet["batch_size"]) == [8, 32, 512, 32]
    assert list(sheet["test_acc"]) == [0.62, 0.55, 0.7, 0.58]
    configs = upstream / "archive" / "reference_data" / "task1_v4" / "model_configs.json"
    specs = json.loads(configs.read_text())
    specs["0"]["hparams"]["batch"]["possible_values"] = [8, 64, 512]
    from sharpgen.settings.pgdl import TASKS, match_hyperparameters

    with pytest.raises(ValueError, match="x.json: hyperparameters .*batch.* do not match task 1"):
        match_hyperparameters(TASKS[1], specs["0"]["hparams"], "x.json")


def test_the_subset_reads_the_shards_in_order_and_models_keep_their_initial_weights(upstream: Path) -> None:
    from sharpgen import settings

    setting = settings.get("pgdl_task1")
    block = {"root": str(upstream / "archive")}
    x, y, table = setting.subset(block, 25, 0, {})
    assert x.shape == (25, 3, 12, 12) and y.dtype == torch.int64
    assert list(table["source"].str[-16:].value_counts().sort_index()) == [20, 5]  # shard_0 then 5 of shard_1
    weights = upstream / "archive" / "input_data" / "task1_v4" / "model_1" / "weights.hdf5"
    model = setting.load_model(weights, "vgg", torch.device("cpu"))
    init = setting.load_initial_state(weights)
    assert init.keys() == model.state_dict().keys()
    assert any(not torch.equal(init[k], v) for k, v in model.state_dict().items())


def _public_data_zip(archive: Path, out: Path) -> Path:
    """The tiny tasks as the organisers ship them: one zip, input_data/ and reference_data/ at its top."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(archive.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(archive).as_posix())
    return out


@pytest.mark.slow
def test_two_tasks_download_their_shared_archive_once_then_run_end_to_end(upstream: Path, tmp_path: Path, http_server) -> None:
    """public_data.zip (tasks 1 and 2) served on 127.0.0.1 through the unchanged workflow: the
    first run downloads it once through base_url, records its digest and extracts it; the second
    computes both tasks: published metrics for the correlations, accuracies evaluated on the
    records (equal to Keras' own) in the drift table, the kit's two baselines, the PGDL score, the
    published scores beside ours (Reproduction), the score averaged over the two tasks and the
    reports."""
    import yaml

    from helpers.workflow import snakemake, workdir
    from sharpgen import tables
    from sharpgen.cmi import pgdl_cmi
    from sharpgen.download import sha256_file

    served = _public_data_zip(upstream / "archive", http_server.root / "mirror" / "public_data.zip")
    root = workdir(tmp_path / "w")
    block = {
        "base_url": f"{http_server.base}/mirror",
        "sharpness": {"n": 16, "shards": 1, "max_train_error": 1.0},  # one job per task
        "correlation": {"resamples": 0},
        "grids": {"tiny": [{"algorithm": "average", "norm": "l2", "variant": "adaptive", "rho": 0.1, "m": 16, "n_samples": 2}]},
        "measures": [{"kind": "dist_init"}, {"kind": "jacobian_norm", "n": 16}],
        "figures": {"targets": ["test_error", "gen_gap_error"]},
    }
    config = {"settings": ["pgdl_task1", "pgdl_task2"], "grid": "tiny", "trust_first_download": True,
              "pgdl_task1": block, "pgdl_task2": block}
    (root / "pgdl.yaml").write_text(yaml.safe_dump(config))

    first = snakemake(root, "--configfile", "pgdl.yaml")
    for task, n in (("pgdl_task1", 96), ("pgdl_task2", 54)):  # the README grids until the archive is extracted
        assert f"{task}: public_data.zip is not extracted yet; this run downloads and extracts it; run snakemake again to compute its {n} models" in first.stderr
    assert [path for path, _ in http_server.state.requests] == ["/mirror/public_data.zip"]
    lock = json.loads((root / "config" / "downloads.lock").read_text())
    assert lock[f"{http_server.base}/mirror/public_data.zip"] == {"size": served.stat().st_size, "sha256": sha256_file(served)}
    extracted = root / "results" / "archives" / "public_data"
    assert json.loads((extracted / "extracted.json").read_text())["files"] == sum(1 for p in (upstream / "archive").rglob("*") if p.is_file())
    assert not (root / "results" / "archives" / "public_data.zip").exists()  # temp: deleted once extracted
    assert not (root / "results" / "tables").exists()

    snakemake(root, "results/report/pgdl_task1.md", "results/report/pgdl_task1.html", "results/report/pgdl_task2.md", "--configfile", "pgdl.yaml")
    assert len(http_server.state.requests) == 1  # downloaded once for both tasks
    keras_accuracy = json.loads((upstream / "archive_accuracy.json").read_text())
    for setting, folder, n_models in (("pgdl_task1", "task1_v4", 4), ("pgdl_task2", "task2_v1", 3)):
        t = root / "results" / "tables" / setting
        models = tables.read(t / "models.parquet", tables.models_schema(setting))
        assert len(models) == n_models and models["path"].str.startswith(f"results/archives/public_data/input_data/{folder}/").all()
        metrics = tables.read(t / "metrics.parquet", tables.METRICS)  # the correlations' metrics: the published ones
        published = models.set_index("model_id")[["train_acc", "test_acc"]].rename(columns={"train_acc": "train", "test_acc": "test"})
        wide = metrics.pivot(index="model_id", columns="split", values="error")
        assert np.allclose(1 - wide[["train", "test"]].to_numpy(), published.loc[wide.index].to_numpy())
        drift = tables.read(t / "drift.parquet", tables.DRIFT)
        assert len(drift) == 2 * n_models
        for row in drift.itertuples():
            assert row.evaluated_accuracy == pytest.approx(keras_accuracy[folder][row.model_id][row.split], abs=1e-6)  # float32 errors
            assert row.published_accuracy == pytest.approx(published.loc[row.model_id, row.split], abs=1e-6)
        evaluated = pd.concat([tables.read(p, tables.METRICS) for p in (root / "results" / "metrics" / setting / "evaluated").glob("*.parquet")])
        assert sorted(evaluated.groupby("split")["n_examples"].first().items()) == [("test", 8), ("train", 40)]
        report = (root / "results" / "report" / f"{setting}.md").read_text()
        assert "PGDL score" in report and "Accuracy drift: evaluated vs published" in report
    drift1 = tables.read(root / "results" / "tables" / "pgdl_task1" / "drift.parquet", tables.DRIFT)
    drift2 = tables.read(root / "results" / "tables" / "pgdl_task2" / "drift.parquet", tables.DRIFT)
    assert drift1["drifted"].all() and not drift2["drifted"].any()  # made-up published accuracies vs Keras' own

    t = root / "results" / "tables" / "pgdl_task1"
    models = tables.read(t / "models.parquet", tables.models_schema("pgdl_task1"))
    metrics = tables.read(t / "metrics.parquet", tables.METRICS)
    sharp = tables.read(t / "sharpness.parquet", tables.SHARPNESS)
    measures = tables.read(t / "measures.parquet", tables.MEASURES)
    assert len(sharp) == 4 and sharp["sharpness_loss"].notna().all()
    assert (measures["value"] > 0).all() and len(measures) == 8
    gran = tables.read(t / "granulated.parquet", tables.GRANULATED)
    axes = ["last_conv_filters", "dropout", "conv_blocks", "dense_layers", "weight_decay", "batch_size"]
    wide = metrics.pivot(index="model_id", columns="split", values="error").loc[models["model_id"]]
    gap = (wide["test"] - wide["train"]).to_numpy()
    for definition, values in [(d, rows.set_index("model_id")["sharpness_loss"]) for d, rows in sharp.groupby("definition")] + [
        (m, rows.set_index("model_id")["value"]) for m, rows in measures.groupby("measure")
    ]:
        row = gran[(gran["definition"] == definition) & (gran["target"] == "gen_gap_error") & (gran["axis"] == "Psi")]
        expected = 100 * pgdl_cmi(values.loc[models["model_id"]].to_numpy(), gap, models[axes])
        assert row["cmi"].iloc[0] == pytest.approx(expected, abs=1e-9)
    gran2 = tables.read(root / "results" / "tables" / "pgdl_task2" / "granulated.parquet", tables.GRANULATED)
    assert gran2.loc[(gran2["axis"] == "Psi") & (gran2["target"] == "gen_gap_error"), "cmi"].notna().all()
    report = (root / "results" / "report" / "pgdl_task1.md").read_text()
    psi = gran[(gran["axis"] == "Psi") & (gran["target"] == "gen_gap_error")].set_index("definition")["cmi"]
    psi2 = gran2[(gran2["axis"] == "Psi") & (gran2["target"] == "gen_gap_error")].set_index("definition")["cmi"]
    repro = tables.read(t / "reproduction.parquet", tables.REPRODUCTION).set_index("definition")
    assert repro.loc["dist_init", ["paper_value", "ours"]].tolist() == [5.13, psi.loc["dist_init"]]
    assert math.isnan(repro.loc["jacobian_norm_n528", "ours"])  # the kit's 528 examples; this study measured 16
    assert f"| {psi.loc['dist_init']:.3f} (4 models) |" in report and report.count("| no row of ours") == 4
    average = tables.read(root / "results" / "tables" / "pgdl_task_average.parquet", tables.TASK_AVERAGE)
    mean = average[(average["setting"] == "mean over tasks") & (average["target"] == "gen_gap_error")].set_index("definition")
    assert mean["cmi"].to_dict() == pytest.approx(((psi + psi2) / 2).to_dict()) and (mean["n_tasks"] == 2).all()
    html = (root / "results" / "report" / "pgdl_task1.html").read_text()
    assert "PGDL score averaged over tasks" in report and "PGDL score averaged over tasks" in html
    assert "PGDL scores published for pgdl_task1" in html


def test_without_the_archive_the_readme_grid_is_planned_and_jobs_say_what_is_missing(tmp_path: Path) -> None:
    from sharpgen import plan, settings

    sheet = plan.model_sheet("pgdl_task7", {"root": str(tmp_path)})
    assert len(sheet) == 48 and set(sheet["dense"]) == {"128-128-128", "256-256", "512"}
    with pytest.raises(ValueError, match="model_configs.json is missing under pgdl_task7.root"):
        settings.get("pgdl_task7").published_metrics(sheet, {})


def test_tasks_sharing_a_phase_archive_download_it_once_from_their_mirror_unless_given_a_root() -> None:
    from sharpgen import plan

    mirror = {"base_url": "http://127.0.0.1:1/m/"}
    blocks = {"pgdl_task1": mirror, "pgdl_task2": mirror, "pgdl_task8": {}, "pgdl_task9": {"root": "/data/phase_two"}}
    assert plan.archives(blocks) == {"public_data.zip": "http://127.0.0.1:1/m/public_data.zip",
                                     "phase_two_data.zip": "http://storage.googleapis.com/gresearch/pgdl/phase_two_data.zip"}
    with pytest.raises(ValueError, match="config pgdl_task1 and pgdl_task2 fetch public_data.zip from different URLs"):
        plan.archives({"pgdl_task1": mirror, "pgdl_task2": {}})


def test_the_evaluation_splits_are_the_tasks_records_capped_by_evaluated_records(upstream: Path) -> None:
    from sharpgen import settings

    setting = settings.get("pgdl_task2")
    block = {"root": str(upstream / "archive")}
    splits, index = setting.dataset(block, {})
    assert {k: len(y) for k, (_, y) in splits.items()} == {"train": 40, "test": 8}
    assert splits["train"][0].shape == (40, 3, 12, 12)
    x, y, table = setting.subset(block, 40, 0, {})
    assert torch.equal(splits["train"][0], x) and torch.equal(splits["train"][1], y)  # the same records, in the same order
    capped, index = setting.dataset({**block, "evaluated_records": 25}, {})
    assert {k: len(y) for k, (_, y) in capped.items()} == {"train": 25, "test": 8}
    assert list(index[index["split"] == "train"]["source"].str[-16:].value_counts().sort_index()) == [20, 5]


def test_an_extracted_archive_without_the_tasks_folder_names_the_folders_it_has(tmp_path: Path, monkeypatch) -> None:
    from sharpgen import archive, plan

    monkeypatch.chdir(tmp_path)
    (archive.folder("phase_two_data.zip") / "reference_data" / "task6_v2").mkdir(parents=True)
    assert len(plan.model_sheet("pgdl_task6", {})) == 96  # not extracted yet: the README's grid
    archive.record_path("phase_two_data.zip").write_text("{}")
    with pytest.raises(ValueError, match=r"config pgdl_task6: phase_two_data.zip is extracted .* no reference_data/task6/model_configs.json; "
                                         r"its tasks: \['task6_v2'\]; set pgdl_task6.task_dir"):
        plan.model_sheet("pgdl_task6", {})
