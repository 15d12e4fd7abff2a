"""PGDL-style models and records written by TensorFlow/Keras itself.

Run as ``python -m helpers.pgdl_keras OUT_DIR`` (from ``tests/``). For every architecture family
of ``FAMILIES`` it builds the model as the PGDL starting kit does (``tf.keras.Sequential`` of
``getattr(tf.keras.layers, layer_name)(**kwargs)``), draws random weights (batch-norm statistics
included), and writes ``OUT_DIR/<family>/`` with ``config.json`` (``model_config``,
``input_shape``), ``weights.hdf5`` (Keras' own HDF5 weights writer, the tf.keras 2 format the
competition's files have) and ``reference.npz`` (NHWC inputs and Keras' outputs in inference
mode). It also writes ``OUT_DIR/records/shard_0.tfrecord`` (the task datasets' records:
features ``inputs`` and ``output``, ``tf.io.serialize_tensor`` of a float32 image and an int32
label), ``OUT_DIR/records/lists.tfrecord`` (float, int64 and bytes list features) and
``records.npz``, what was written; and ``OUT_DIR/archive/``, tiny tasks 1 and 2 in the layout of
the competition's archives (``TINY_TASKS``), with ``OUT_DIR/archive_accuracy.json``: each
model's accuracy on its task's train and test records as Keras computes it.
``OUT_DIR/keras2/<family>/`` holds the families written by Keras 2 itself (``tf_keras``, the
Keras of TensorFlow 2.x that wrote the competition's files: weight names with ``:0``,
``<layer>/<layer>/kernel:0``): ``weights.hdf5`` from ``save_weights``, ``model.h5`` from
``model.save`` (weights under ``model_weights/``), and in ``reference.npz`` Keras 2's outputs,
the starting kit's baseline 1 and, for ``JACOBIAN_FAMILIES``, its Jacobian baseline computed by
TensorFlow's autodiff (:func:`kit_jacobian_norm`). Its own process: TensorFlow and torch must
not share one.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import h5py
import numpy as np
import tensorflow as tf
from keras.src.legacy.saving import legacy_h5_format


def conv(filters, kernel=3, **kw):
    return {"layer_name": "Conv2D", "filters": filters, "kernel_size": kernel, "padding": "same", "activation": "relu", **kw}


# family -> (layer list, input shape); after the PGDL task descriptions (google-research/pgdl)
FAMILIES = {
    # task 1 / 8: [conv-relu-conv-relu-maxpool] x blocks, dense 128 layers, dropout after each dense
    "vgg": ([conv(8), conv(8), {"layer_name": "MaxPooling2D", "pool_size": 2}, conv(16), conv(16),
             {"layer_name": "MaxPooling2D", "pool_size": [2, 2]}, {"layer_name": "Flatten"},
             {"layer_name": "Dense", "units": 32, "activation": "relu"}, {"layer_name": "Dropout", "rate": 0.5},
             {"layer_name": "Dense", "units": 10}], [12, 12, 3]),
    # task 2 / 6 / 9: network in network (3x3 then two 1x1 convs per block, strided), global pooling
    "nin": ([conv(16, 3, strides=2), conv(16, 1), conv(16, 1), {"layer_name": "BatchNormalization"},
             {"layer_name": "Dropout", "rate": 0.25}, conv(16, 3, strides=2), conv(16, 1), conv(10, 1, activation=None),
             {"layer_name": "GlobalAveragePooling2D"}], [12, 12, 3]),  # 12 -> 6: TF pads (0, 1)
    # task 7: network in network with dense layers on top of the global average pooling
    "nin_dense": ([conv(16, 3, strides=2), conv(16, 1), conv(16, 1), {"layer_name": "GlobalAveragePooling2D"},
                   {"layer_name": "Dense", "units": 16, "activation": "relu"}, {"layer_name": "Dense", "units": 37}], [9, 9, 4]),
    # task 4: fully convolutional, no downsampling, batch norm before the relu, global pooling
    "fcn_bn": ([{"layer_name": "Conv2D", "filters": 12, "kernel_size": 3, "padding": "same"},
                {"layer_name": "BatchNormalization", "epsilon": 1e-3}, {"layer_name": "Activation", "activation": "relu"},
                {"layer_name": "Conv2D", "filters": 12, "kernel_size": 3, "padding": "same"}, {"layer_name": "BatchNormalization"},
                {"layer_name": "ReLU"}, {"layer_name": "Conv2D", "filters": 10, "kernel_size": 1},
                {"layer_name": "GlobalAveragePooling2D"}], [8, 8, 3]),
    # task 5: task 4 without batch norm
    "fcn": ([conv(12), conv(12), {"layer_name": "Conv2D", "filters": 10, "kernel_size": 1},
             {"layer_name": "GlobalMaxPooling2D"}], [8, 8, 3]),
    # the starting kit's toy data: dense layers on 3 features
    "mlp": ([{"layer_name": "Dense", "units": 16, "activation": "tanh"}, {"layer_name": "Dense", "units": 2}], [3]),
}


def keras_model(layers, input_shape):
    model = tf.keras.Sequential([getattr(tf.keras.layers, d["layer_name"])(**{k: v for k, v in d.items() if k != "layer_name"})
                                 for d in layers])
    model.build([None, *input_shape])
    return model


def random_weights(model, rng):
    weights = []
    for variable in model.weights:
        shape, name = tuple(variable.shape), getattr(variable, "path", variable.name)
        if "moving_variance" in name:
            weights.append(rng.uniform(0.5, 2.0, shape))
        elif "gamma" in name:
            weights.append(rng.uniform(0.5, 1.5, shape))
        elif len(shape) > 1:
            fan_in = int(np.prod(shape[:-1]))
            weights.append(rng.normal(0, np.sqrt(2.0 / fan_in), shape))
        else:
            weights.append(rng.normal(0, 0.1, shape))
    model.set_weights([w.astype(np.float32) for w in weights])


def example(features: dict[str, tf.train.Feature]) -> bytes:
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


def write_records(out: Path, rng) -> None:
    out.mkdir(parents=True)
    images = rng.normal(size=(5, 4, 3, 3)).astype(np.float32)
    labels = rng.integers(0, 10, 5).astype(np.int32)
    with tf.io.TFRecordWriter(str(out / "shard_0.tfrecord")) as writer:
        for image, label in zip(images, labels):
            writer.write(example({
                "inputs": tf.train.Feature(bytes_list=tf.train.BytesList(value=[tf.io.serialize_tensor(image).numpy()])),
                "output": tf.train.Feature(bytes_list=tf.train.BytesList(value=[tf.io.serialize_tensor(label).numpy()])),
            }))
    floats = rng.normal(size=(3, 4)).astype(np.float32)
    ints = np.array([[1, -2, 2**40], [0, 7, -(2**62)], [5, 5, 5]], dtype=np.int64)
    with tf.io.TFRecordWriter(str(out / "lists.tfrecord")) as writer:
        for f, i in zip(floats, ints):
            writer.write(example({
                "floats": tf.train.Feature(float_list=tf.train.FloatList(value=f)),
                "ints": tf.train.Feature(int64_list=tf.train.Int64List(value=i)),
                "names": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"a", b"\x00b"])),
            }))
    np.savez(out.parent / "records.npz", images=images, labels=labels, floats=floats, ints=ints)


# the archive's tasks 1 (4 tiny VGG models) and 2 (3 tiny NiN models); hyperparameter names unlike
# ours, values as the README. Task 1 publishes made-up accuracies (the drift check flags them),
# task 2 the accuracies Keras computes on its records (accuracy None: no drift).
TINY_TASKS = (
    {"folder": "task1_v4", "family": "vgg",
     "hparams": {"convwidth": [256, 512], "dropout_prob": [0.0, 0.5], "depth": [1, 3], "num_dense": [1, 2],
                 "l2": [0.0, 0.001], "batch": [8, 32, 512]},
     "current": [(256, 0.0, 1, 1, 0.0, 8), (512, 0.5, 3, 2, 0.001, 32), (256, 0.5, 1, 2, 0.001, 512), (512, 0.0, 3, 1, 0.0, 32)],
     "accuracy": [(1.0, 0.62), (0.97, 0.55), (0.99, 0.7), (1.0, 0.58)]},
    {"folder": "task2_v1", "family": "nin",
     "hparams": {"num_layers": [6, 9, 12], "dropout": [0.0, 0.25, 0.5], "weight_decay": [0.0, 0.001], "batchsize": [32, 512, 1024]},
     "current": [(6, 0.0, 0.0, 32), (9, 0.25, 0.001, 512), (12, 0.5, 0.0, 1024)],
     "accuracy": [None, None, None]},
)


def _records(folder: Path, sizes: tuple[int, ...], input_shape, rng) -> tuple[np.ndarray, np.ndarray]:
    """Shards of records as the task datasets hold them; every image and label written."""
    folder.mkdir(parents=True)
    images, labels = [], []
    for k, size in enumerate(sizes):
        with tf.io.TFRecordWriter(str(folder / f"shard_{k}.tfrecord")) as writer:
            for _ in range(size):
                image = rng.uniform(0, 1, input_shape).astype(np.float32)
                label = np.int32(rng.integers(0, 10))
                images.append(image)
                labels.append(label)
                writer.write(example({
                    "inputs": tf.train.Feature(bytes_list=tf.train.BytesList(value=[tf.io.serialize_tensor(image).numpy()])),
                    "output": tf.train.Feature(bytes_list=tf.train.BytesList(value=[tf.io.serialize_tensor(label).numpy()])),
                }))
    return np.stack(images), np.array(labels)


def write_task(out: Path, spec: dict, rng) -> dict[str, dict[str, float]]:
    """input_data/<task>/{model_<i>/, dataset_1/{train,test}/shard_<k>.tfrecord} and
    reference_data/<task>/model_configs.json, as the starting kit reads them; returns each
    model's accuracy per split as Keras computes it (inference mode)."""
    layers, input_shape = FAMILIES[spec["family"]]
    task = out / "input_data" / spec["folder"]
    data = {split: _records(task / "dataset_1" / split, sizes, input_shape, rng) for split, sizes in (("train", (20, 20)), ("test", (8,)))}
    configs, accuracy = {}, {}
    for i, (current, published) in enumerate(zip(spec["current"], spec["accuracy"])):
        folder = task / f"model_{i}"
        folder.mkdir(parents=True)
        (folder / "config.json").write_text(json.dumps({"model_config": layers, "input_shape": input_shape}))
        model = keras_model(layers, input_shape)
        for name in ("weights_init.hdf5", "weights.hdf5"):
            random_weights(model, rng)
            with h5py.File(folder / name, "w") as f:
                legacy_h5_format.save_weights_to_hdf5_group(f, model)
        accuracy[f"model_{i}"] = {split: float(np.mean(np.argmax(model(x, training=False).numpy(), axis=1) == y)) for split, (x, y) in data.items()}
        train_acc, test_acc = published or (accuracy[f"model_{i}"]["train"], accuracy[f"model_{i}"]["test"])
        hparams = {n: {"possible_values": v, "current_value": c} for (n, v), c in zip(spec["hparams"].items(), current)}
        configs[str(i)] = {"hparams": hparams, "metrics": {"train_acc": train_acc, "test_acc": test_acc}}
    reference = out / "reference_data" / spec["folder"]
    reference.mkdir(parents=True)
    (reference / "model_configs.json").write_text(json.dumps(configs, indent=2))
    return accuracy


JACOBIAN_EXAMPLES = 16  # one batch of the kit's (test_measures works the batching by hand)
# the families that hold every layer type between them (batch_jacobian takes seconds per layer)
JACOBIAN_FAMILIES = ("vgg", "fcn_bn", "fcn", "mlp")


def kit_jacobian_norm(model, inputs: np.ndarray, batch: int = 16) -> float:
    """The starting kit's Jacobian baseline, by TensorFlow's autodiff: per batch, for each layer
    the mean of the squared ``batch_jacobian`` of the output with respect to the layer's input
    (what the kit's wrapped layers record), the mean over layers; then the mean over batches."""
    values = []
    for start in range(0, len(inputs), batch):
        x = tf.constant(inputs[start : start + batch])
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            seen, a = [], x
            for layer in model.layers:
                seen.append(a)
                a = layer(a, training=False)
        values.append(np.mean([np.mean(np.square(tape.batch_jacobian(a, s).numpy().astype(np.float64))) for s in seen]))
        del tape
    return float(np.mean(values))


def write_keras2(out: Path, rng) -> None:
    """Every family written by Keras 2 (tf_keras), with its outputs and the kit's Jacobian baseline."""
    import tf_keras

    for family, (layers, input_shape) in FAMILIES.items():
        folder = out / family
        folder.mkdir(parents=True)
        model = tf_keras.Sequential([getattr(tf_keras.layers, d["layer_name"])(**{k: v for k, v in d.items() if k != "layer_name"})
                                     for d in layers])
        model.build([None, *input_shape])
        random_weights(model, rng)
        model.save_weights(str(folder / "weights_init.hdf5"))
        initial = model.get_weights()
        random_weights(model, rng)
        (folder / "config.json").write_text(json.dumps({"model_config": layers, "input_shape": input_shape}))
        model.save_weights(str(folder / "weights.hdf5"))
        model.save(str(folder / "model.h5"))
        inputs = rng.normal(size=(JACOBIAN_EXAMPLES, *input_shape)).astype(np.float32)
        outputs = model(inputs, training=False).numpy()
        # the kit's baseline 1: squared distance over every Keras weight (batch-norm statistics too)
        distance = sum(np.linalg.norm(w - w0) ** 2 for w, w0 in zip(model.get_weights(), initial))
        jacobian = {"jacobian_norm": kit_jacobian_norm(model, inputs)} if family in JACOBIAN_FAMILIES else {}
        np.savez(folder / "reference.npz", inputs=inputs, outputs=outputs, kit_distance=distance, **jacobian)


def main(out: Path) -> None:
    rng = np.random.default_rng(0)
    for family, (layers, input_shape) in FAMILIES.items():
        folder = out / family
        folder.mkdir(parents=True)
        model = keras_model(layers, input_shape)
        random_weights(model, rng)
        (folder / "config.json").write_text(json.dumps({"model_config": layers, "input_shape": input_shape}))
        with h5py.File(folder / "weights.hdf5", "w") as f:
            legacy_h5_format.save_weights_to_hdf5_group(f, model)
        inputs = rng.normal(size=(4, *input_shape)).astype(np.float32)
        outputs = model(inputs, training=False).numpy()
        np.savez(folder / "reference.npz", inputs=inputs, outputs=outputs)
    write_records(out / "records", rng)
    accuracy = {spec["folder"]: write_task(out / "archive", spec, rng) for spec in TINY_TASKS}
    (out / "archive_accuracy.json").write_text(json.dumps(accuracy, indent=1))
    write_keras2(out / "keras2", rng)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
