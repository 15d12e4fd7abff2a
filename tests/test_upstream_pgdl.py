"""PGDL models and records against Keras/TensorFlow themselves (helpers.pgdl_keras, run in its own
process): every architecture family's logits, and records read back exactly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
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
