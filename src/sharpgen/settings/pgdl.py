"""Settings "pgdl_task1" ... "pgdl_task9": the model collections of the NeurIPS 2020 competition
"Predicting Generalization in Deep Learning" (PGDL; Jiang et al., arXiv 2012.07976), one setting
per task, all from this module.

What the organisers publish (google-research/google-research ``pgdl/README.md``): three zip
archives, one per phase -- ``public_data.zip`` (tasks 1 and 2, 8.8 GB), ``phase_one_data.zip``
(tasks 4 and 5, 2.5 GB), ``phase_two_data.zip`` (tasks 6 to 9, 9.0 GB), under
``http://storage.googleapis.com/gresearch/pgdl/`` -- holding, as the competition's starting kit
reads them (``ingestion_program/data_manager.py``, ``scoring_program/score.py``):

    input_data/<task>/model_<i>/config.json        {"model_config": [Keras layers], "input_shape": [H, W, C]}
    input_data/<task>/model_<i>/weights.hdf5       trained weights (Keras HDF5)
    input_data/<task>/model_<i>/weights_init.hdf5  initial weights
    input_data/<task>/dataset_1/{train,test}/shard_<k>.tfrecord   tf.train.Example records: features
                                                   "inputs" (serialized float32 image, H x W x C) and
                                                   "output" (serialized int32 label)
    reference_data/<task>/model_configs.json       {"<i>": {"hparams": {name: {"possible_values": [...],
                                                   "current_value": v}}, "metrics": {"train_acc", "test_acc"}}}

What we could not find, and how the code copes: the organisers publish no digests of the
archives (none is recorded here); the folder names of tasks 4 to 9 inside the archives are not
documented (tasks 1 and 2 are ``task1_v4`` and ``task2_v1``, the names the starting kit's
scoring reads; for the others we assume ``task<N>`` -- set ``task_dir`` if the archive differs);
the hyperparameter names inside ``model_configs.json`` are not documented. Our model sheet
therefore names each task's hyperparameters after the README's description (``HPARAMS``) and
matches the file's hyperparameters to them by their set of possible values; where the README
gives no exact values (task 4/5's parameter count, task 7's dense architecture) the one
hyperparameter left over is taken, as a string. A file that does not match is refused with the
names and values it holds.

Where the data come from: without ``root``, the task's phase archive is downloaded once for
every task that shares it (mirrored by ``base_url``, verified against ``config/downloads.lock``)
and extracted to ``results/archives/<archive>/`` (:mod:`sharpgen.archive`). Members are named
``input_data/<task>/...`` and ``reference_data/<task>/...`` at the archive's top (as scripts that
list the archive's central directory name them); a single top folder would be dropped. With
``root`` (a phase archive the user unzipped), nothing is downloaded. The model sheet is read
from ``reference_data/<task>/model_configs.json`` when it exists, else planned from the README's
grid (same model count and hyperparameter values; for ``snakemake -n`` and ``sharpgen estimate``
before extraction: the workflow then only downloads and extracts, and the next run computes the
models). Each model is linked from ``input_data/<task>/<model_id>/weights.hdf5`` and rebuilt in
torch from its ``config.json`` (:mod:`sharpgen.networks.keras_h5`); its initial weights give
the distance from initialisation. Metrics are the published train and test accuracies
(``metrics: published``: the competition's generalization gap); the models are also evaluated
on the task's ``dataset_1/train`` and ``dataset_1/test`` records (``drift.evaluate``), and the
drift table compares both accuracies.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd

from sharpgen import archive
from sharpgen.settings import Collection, Ref, register
from sharpgen.settings.base import SHEET_COLUMNS, mirrored

ARCHIVE_URL = "http://storage.googleapis.com/gresearch/pgdl/{archive}"
UNKNOWN = None  # a hyperparameter whose values the README does not give exactly


class Task(NamedTuple):
    number: int
    folder: str  # the task's folder in the archive (documented for tasks 1 and 2 only)
    archive: str
    dataset: str
    family: str  # architecture family, the sheet's arch
    hparams: tuple[tuple[str, str, tuple | None], ...]  # (column, dtype, README values)


# After google-research/google-research pgdl/README.md ("Description of the tasks").
TASKS = {
    1: Task(1, "task1_v4", "public_data.zip", "CIFAR-10", "vgg", (
        ("last_conv_filters", "int64", (256, 512)), ("dropout", "float64", (0.0, 0.5)), ("conv_blocks", "int64", (1, 3)),
        ("dense_layers", "int64", (1, 2)), ("weight_decay", "float64", (0.0, 0.001)), ("batch_size", "int64", (8, 32, 512)))),
    2: Task(2, "task2_v1", "public_data.zip", "SVHN", "nin", (
        ("conv_layers", "int64", (6, 9, 12)), ("dropout", "float64", (0.0, 0.25, 0.5)), ("weight_decay", "float64", (0.0, 0.001)),
        ("batch_size", "int64", (32, 512, 1024)))),
    4: Task(4, "task4", "phase_one_data.zip", "CINIC-10 (40% subset)", "fully_conv_bn", (
        ("parameters", "string", UNKNOWN), ("depth", "int64", (4, 6)), ("reversed", "string", ("False", "True")),
        ("weight_decay", "float64", (0.0, 0.0005)), ("learning_rate", "float64", (0.001, 0.01)), ("batch_size", "int64", (32, 256)))),
    5: Task(5, "task5", "phase_one_data.zip", "CINIC-10 (40% subset)", "fully_conv", (
        ("parameters", "string", UNKNOWN), ("depth", "int64", (4, 6)), ("reversed", "string", ("False", "True")),
        ("weight_decay", "float64", (0.0, 0.0005)), ("learning_rate", "float64", (0.001, 0.01)), ("batch_size", "int64", (32, 256)))),
    6: Task(6, "task6", "phase_two_data.zip", "Oxford Flowers (32 px)", "nin", (
        ("weight_decay", "float64", (0.0, 0.001)), ("batch_size", "int64", (512, 1024)), ("filters", "int64", (256, 512)),
        ("conv_layers", "int64", (6, 9, 12)), ("dropout", "float64", (0.0, 0.25)), ("learning_rate", "float64", (0.01, 0.1)))),
    7: Task(7, "task7", "phase_two_data.zip", "Oxford Pets (32 px)", "nin_dense", (
        ("depth", "int64", (6, 9)), ("dropout", "float64", (0.0, 0.25)), ("weight_decay", "float64", (0.0, 0.001)),
        ("batch_size", "int64", (512, 1024)), ("dense", "string", UNKNOWN))),
    8: Task(8, "task8", "phase_two_data.zip", "Fashion-MNIST", "vgg", (
        ("last_conv_filters", "int64", (256, 512)), ("dropout", "float64", (0.0, 0.5)), ("conv_blocks", "int64", (1, 3)),
        ("learning_rate", "float64", (0.001, 0.01)), ("batch_size", "int64", (32, 512)))),
    9: Task(9, "task9", "phase_two_data.zip", "CIFAR-10 (augmented)", "nin", (
        ("filters", "int64", (256, 512)), ("conv_layers", "int64", (9, 12)), ("dropout", "float64", (0.0, 0.25)),
        ("weight_decay", "float64", (0.0, 0.001)), ("batch_size", "int64", (32, 512)))),
}
# grid sizes of the README's unknown-valued hyperparameters: task 4/5 parameters [1M, 2.5M],
# task 7 dense [128-128-128, 256-256, 512]
UNKNOWN_LEVELS = {("parameters", 4): ("1M", "2.5M"), ("parameters", 5): ("1M", "2.5M"), ("dense", 7): ("128-128-128", "256-256", "512")}
LAYOUT = "the extracted archive: input_data/<task>/{model_*/,dataset_1/} and reference_data/<task>/model_configs.json"


def _norm(value: Any) -> Any:
    """Values compared across JSON and the README: numbers as floats, the rest as strings."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        return float(value)
    return str(value)


def match_hyperparameters(task: Task, hparams: Mapping[str, Mapping[str, Any]], where: str) -> dict[str, str]:
    """Our column for each hyperparameter name of ``model_configs.json``: the README hyperparameter
    with the same set of possible values; the one left over for the README's unknown one."""
    found = {name: frozenset(_norm(v) for v in spec["possible_values"]) for name, spec in hparams.items()}
    mapping: dict[str, str] = {}
    for column, _, values in task.hparams:
        if values is None:
            continue
        wanted = frozenset(_norm(v) for v in values)
        names = [n for n, vals in found.items() if vals == wanted and n not in mapping]
        if len(names) == 1:
            mapping[names[0]] = column
    unknown = [column for column, _, values in task.hparams if values is None]
    rest = [n for n in found if n not in mapping]
    if len(unknown) == len(rest) == 1:
        mapping[rest[0]] = unknown[0]
    if len(mapping) != len(task.hparams) or len(found) != len(task.hparams):
        raise ValueError(
            f"{where}: hyperparameters {({n: sorted(map(str, v)) for n, v in found.items()})} do not match task {task.number}'s "
            f"documented ones {({c: v for c, _, v in task.hparams})}; the archive differs from the README"
        )
    return mapping


def _typed(value: Any, dtype: str) -> Any:
    return {"int64": int, "float64": float, "string": str}[dtype](value)


def sheet_from_configs(task: Task, path: Path, root: Path, folder: str) -> pd.DataFrame:
    """One row per model of ``model_configs.json``: its hyperparameters and published accuracies."""
    try:
        configs = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not a readable model_configs.json ({error})") from None
    if not configs:
        raise ValueError(f"{path}: lists no models")
    first = next(iter(configs.values()))
    mapping = match_hyperparameters(task, first["hparams"], str(path))
    dtypes = {c: d for c, d, _ in task.hparams}
    rows = []
    for key, spec in configs.items():
        model_id = key if str(key).startswith("model") else f"model_{key}"
        try:
            hp = {mapping[n]: _typed(v["current_value"], dtypes[mapping[n]]) for n, v in spec["hparams"].items()}
            metrics = {"train_acc": float(spec["metrics"]["train_acc"]), "test_acc": float(spec["metrics"]["test_acc"])}
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{path}: model {key!r} lacks or mistypes {error}; expected hparams and metrics train_acc, test_acc") from None
        weights = root / "input_data" / folder / model_id / "weights.hdf5"
        rows.append({"model_id": model_id, **hp, **metrics, "path": str(weights)})
    frame = pd.DataFrame(rows)
    frame["_n"] = frame["model_id"].str.extract(r"(\d+)$", expand=False).astype(float)
    return frame.sort_values(["_n", "model_id"]).drop(columns="_n").reset_index(drop=True)


def sheet_from_readme(task: Task, root: Path, folder: str) -> pd.DataFrame:
    """The README's full grid, for planning without the data: ``model_<k>`` in grid order, no accuracies."""
    levels = [values if values is not None else UNKNOWN_LEVELS[(column, task.number)] for column, _, values in task.hparams]
    rows = []
    for k, combo in enumerate(itertools.product(*levels)):
        hp = {c: _typed(v, d) for (c, d, _), v in zip(task.hparams, combo, strict=True)}
        rows.append({"model_id": f"model_{k}", **hp, "train_acc": float("nan"), "test_acc": float("nan"),
                     "path": str(root / "input_data" / folder / f"model_{k}" / "weights.hdf5")})
    return pd.DataFrame(rows)


class PgdlTask(Collection):
    """One PGDL task (module docstring); subclasses fix ``task``."""

    task: Task
    metric_sources = ("published", "evaluate")
    published = {"train_acc": "train", "test_acc": "test"}
    published_values = "published_pgdl.csv"  # the starting kit's and the winners' PGDL scores (every task's rows)
    benchmark = "pgdl"  # the study averages the score over its PGDL tasks (sharpgen.task_average)
    block_schema = {
        "models": Collection.block_schema["models"],
        "root": {"description": f"An unzipped phase archive, {LAYOUT}: nothing is downloaded. Absent: the archive is "
                                "downloaded and extracted to results/archives/<archive>/.", "type": "string"},
        "base_url": {"description": "A mirror of the phase archives: replaces the URL prefix (everything before the file name).",
                     "type": "string"},
        "task_dir": {"description": "The task's folder name in the archive, when it is not the assumed one (module docstring).",
                     "type": "string"},
        "evaluated_records": {"description": "Records of each of dataset_1/train and dataset_1/test evaluated for the drift "
                                             "check (the first n of each, shards in order; all when absent).",
                              "type": "integer", "minimum": 1},
    }
    sheet_keys = ("models", "root", "task_dir")
    data_keys = ("root", "task_dir", "evaluated_records")

    def folder(self, block: Mapping[str, Any]) -> str:
        return block.get("task_dir") or self.task.folder

    def root(self, block: Mapping[str, Any]) -> Path:
        """The folder holding input_data/ and reference_data/: ``root``, else the extracted archive."""
        return Path(block["root"]) if block.get("root") else archive.folder(self.task.archive)

    def archives(self, block: Mapping[str, Any]) -> dict[str, str]:
        if block.get("root"):
            return {}
        return {self.task.archive: mirrored(ARCHIVE_URL.format(archive=self.task.archive), block.get("base_url"))}

    def _inputs(self, block: Mapping[str, Any]) -> dict[str, Ref]:
        """The extraction's record, when the archive is extracted here: data steps rerun after a new extraction."""
        return {"extracted": Ref("file", str(archive.record_path(self.task.archive)))} if self.archives(block) else {}

    def dataset_inputs(self, block: Mapping[str, Any], sheet: pd.DataFrame) -> dict[str, Ref]:
        return self._inputs(block)

    def subset_inputs(self, block: Mapping[str, Any], sheet: pd.DataFrame) -> dict[str, Ref]:
        return self._inputs(block)

    def evaluated_splits(self, block: Mapping[str, Any]) -> tuple[str, ...]:
        return ("train", "test")

    def collection(self, block: Mapping[str, Any]) -> pd.DataFrame:
        root, folder = self.root(block), self.folder(block)
        configs = root / "reference_data" / folder / "model_configs.json"
        if configs.is_file():
            frame = sheet_from_configs(self.task, configs, root, folder)
        elif self.archives(block) and archive.is_extracted(self.task.archive):
            found = sorted(p.name for p in (root / "reference_data").glob("*") if p.is_dir())
            raise ValueError(f"config {self.name}: {self.task.archive} is extracted to {root} but has no {configs.relative_to(root)}; "
                             f"its tasks: {found}; set {self.name}.task_dir to this task's folder")
        else:
            frame = sheet_from_readme(self.task, root, folder)
        frame = frame.assign(setting=self.name, arch=self.task.family, source="local", filename=frame["model_id"] + ".hdf5")
        return frame[[*SHEET_COLUMNS, *(c for c, _ in self.columns)]]

    def published_metrics(self, sheet: pd.DataFrame, inputs: Mapping[str, Path]) -> pd.DataFrame:
        if sheet["test_acc"].isna().all():
            raise ValueError(f"{self.name}: no published accuracies: the sheet is the README's grid because "
                             f"reference_data/<task>/model_configs.json is missing under {self.name}.root (or the extracted "
                             f"archive: run snakemake once to extract it); expected {LAYOUT}")
        return super().published_metrics(sheet, inputs)

    def _records(self, block: Mapping[str, Any], split: str, n: int | None):
        """The first n records (all: None) of ``dataset_1/<split>`` (shard number order), as the
        starting kit's data manager reads them: float32 images (to NCHW), int32 labels, and a
        table of where each comes from (source: shard relative to the root, index: record in it)."""
        import numpy as np
        import torch

        from sharpgen.data.tfrecord import parse_example, parse_tensor, records

        root = self.root(block)
        folder = root / "input_data" / self.folder(block) / "dataset_1" / split
        shards = sorted(folder.glob("shard_*.tfrecord"), key=lambda p: int(p.stem.split("_")[-1]))
        if not shards:
            raise FileNotFoundError(f"{self.name}: no {folder}/shard_*.tfrecord under the data root {str(root)!r}; expected {LAYOUT}")
        images, labels, sources, indices = [], [], [], []
        for shard in shards:
            for index, record in enumerate(records(shard, limit=None if n is None else n - len(labels))):
                example = parse_example(record)
                images.append(parse_tensor(example["inputs"][0]))
                labels.append(int(parse_tensor(example["output"][0])))
                sources.append(str(shard.relative_to(root)))
                indices.append(index)
            if len(labels) == n:
                break
        x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
        y = torch.tensor(labels, dtype=torch.int64)
        return x, y, pd.DataFrame({"label": labels, "source": sources, "index": indices})

    def subset(self, block: Mapping[str, Any], n: int, seed: int, inputs: Mapping[str, Path]):
        """The first n training records of the task's shards."""
        x, y, table = self._records(block, "train", n)
        if len(y) < n:
            raise ValueError(f"{self.name}.sharpness.n = {n} but dataset_1/train holds only {len(y)} training records; lower it")
        return x, y, table.assign(position=range(n))[["position", "label", "source", "index"]]

    def dataset(self, block: Mapping[str, Any], inputs: Mapping[str, Path]):
        """``dataset_1/train`` and, when the archive has it, ``dataset_1/test``: the first
        ``evaluated_records`` of each (all when absent), for the drift check."""
        n = block.get("evaluated_records")
        splits, index = {}, []
        test = self.root(block) / "input_data" / self.folder(block) / "dataset_1" / "test"
        for split in ("train", "test") if test.is_dir() else ("train",):
            x, y, table = self._records(block, split, n)
            splits[split] = (x, y)
            index.append(table.assign(split=split))
        return splits, pd.concat(index, ignore_index=True)[["split", "index", "source"]]

    def load_model(self, path: Path, arch: str, device):
        from sharpgen.networks.keras_h5 import load

        weights = Path(path).resolve()
        return load(weights.parent / "config.json", weights).to(device).eval()

    def load_initial_state(self, path: Path):
        """The weights of ``weights_init.hdf5`` beside the model's weights, if the archive has it."""
        from sharpgen.networks.keras_h5 import load

        folder = Path(path).resolve().parent
        if not (folder / "weights_init.hdf5").is_file():
            return None
        return load(folder / "config.json", folder / "weights_init.hdf5").state_dict()


def _register(task: Task) -> None:
    name = f"pgdl_task{task.number}"
    cls = type(f"PgdlTask{task.number}", (PgdlTask,), {
        "name": name, "task": task, "__module__": __name__, "__qualname__": f"PgdlTask{task.number}",
        "description": f"PGDL task {task.number}: {task.family} models on {task.dataset} (NeurIPS 2020 competition).",
        "columns": (("path", "string"), ("filename", "string"), *((c, d) for c, d, _ in task.hparams),
                    ("train_acc", "float64"), ("test_acc", "float64")),
        "defaults": {"correlation": {"group_by": [], "axes": [c for c, _, _ in task.hparams]}, "drift": {"evaluate": True},
                     "figures": {"color": task.hparams[0][0], "marker": None}},
    })
    register(cls)


for _task in TASKS.values():
    _register(_task)
