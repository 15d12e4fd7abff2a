"""The interface every setting implements, and what the settings that download their models share.

A setting is one module holding one ``Setting`` subclass, registered with
``@sharpgen.settings.register``. The workflow asks it, without importing torch, timm or
transformers, for its model sheet, its extra downloads and the inputs of its data steps; jobs
ask it to build the data, load or train a model and read published metrics. Inputs are named
by ``Ref`` values, never by paths: the workflow's path grammar (``workflow/rules/common.smk``)
maps them to files.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import pandas as pd

if TYPE_CHECKING:  # heavy modules are imported by the methods that need them
    import torch
    from torch import nn

    from sharpgen.datasets import Head, Splits

SHEET_COLUMNS = ("setting", "model_id", "arch", "source")
SOURCES = ("train", "download", "local")  # how a model's checkpoint comes to be
DTYPES = ("string", "float64", "int64", "bool")
SHIFT_PREFIX = "shift:"  # metrics split of a distribution-shift test set: shift:<name>


class Ref(NamedTuple):
    """An input of a data or metrics step, by kind: ``download`` (a file of the setting's
    downloads, by name), ``checkpoint`` (a model's checkpoint, by model id), ``dataset`` (the
    setting's evaluation splits) or ``file`` (a path the user gave in the config)."""

    kind: str
    name: str = ""


class Setting:
    """One study setting: where its models, data and metrics come from.

    Class attributes declare what is fixed; methods take the setting's validated config block
    (``block``) and return values. ``columns`` are the model sheet's columns after
    ``SHEET_COLUMNS``, as (name, dtype), dtype one of ``DTYPES``: they type the models table.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    columns: ClassVar[tuple[tuple[str, str], ...]] = ()
    # metric sources the setting offers; the first is the default of ``<setting>.metrics``
    metric_sources: ClassVar[tuple[str, ...]] = ("evaluate",)
    # published accuracy column of the sheet -> metrics split (test, train, shift:<name>)
    published: ClassVar[Mapping[str, str]] = {}
    # the paper's published values (sharpgen.published): a CSV in the folder data/ beside the
    # setting's module; the block key published_values (a path) replaces it
    published_values: ClassVar[str | None] = None
    # "pgdl": a task of the PGDL competition; a study averages the PGDL score over its tasks
    benchmark: ClassVar[str | None] = None
    # JSON-schema properties of the setting's own config keys (with descriptions and defaults)
    block_schema: ClassVar[Mapping[str, Any]] = {}
    # defaults of the common keys (sharpness, correlation, figures) where the setting differs
    defaults: ClassVar[Mapping[str, Any]] = {}
    # block keys that determine the model sheet, resp. the data (params of those rules)
    sheet_keys: ClassVar[tuple[str, ...]] = ()
    data_keys: ClassVar[tuple[str, ...]] = ()
    # evaluation split -> how many of its first examples are evaluated (all when absent)
    eval_sizes: ClassVar[Mapping[str, int]] = {}
    # the block describes the models and data (a generic kind): every block is bound (``bound``)
    from_block: ClassVar[bool] = False

    def bound(self, name: str, block: Mapping[str, Any]) -> Setting:
        """This setting under the name of a config block of its kind (``sharpgen.settings.bind``);
        kinds described by their block (``from_block``) configure the copy from it."""
        import copy

        out = copy.copy(self)
        out.name = name
        return out

    # --- planning (light: no torch, timm or transformers) ---
    def sheet(self, block: Mapping[str, Any]) -> pd.DataFrame:
        """One row per model: ``SHEET_COLUMNS`` then ``columns``; checkpoints that are not
        trained here carry ``url`` (download) or ``path`` (local) and ``filename``."""
        raise NotImplementedError

    def downloads(self, block: Mapping[str, Any]) -> dict[str, str]:
        """File name -> URL of the files besides checkpoints that the setting downloads."""
        return {}

    def archives(self, block: Mapping[str, Any]) -> dict[str, str]:
        """Zip archive name -> URL of the archives the setting's data come from, downloaded and
        extracted once for every setting that names them (``sharpgen.archive``)."""
        return {}

    def evaluated_splits(self, block: Mapping[str, Any]) -> tuple[str, ...] | None:
        """The metrics splits of ``metrics: evaluate`` (train, test, shift:<name>), where known at planning."""
        return None

    def train_size(self, block: Mapping[str, Any]) -> int | None:
        """Examples in the training split the sharpness subset is cut from, where known at planning."""
        return None

    def dataset_inputs(self, block: Mapping[str, Any], sheet: pd.DataFrame) -> dict[str, Ref]:
        """Inputs of the evaluation splits (``metrics: evaluate``)."""
        return {}

    def subset_inputs(self, block: Mapping[str, Any], sheet: pd.DataFrame) -> dict[str, Ref]:
        """Inputs of the sharpness subset."""
        return {}

    def published_inputs(self, block: Mapping[str, Any]) -> dict[str, Ref]:
        """Inputs of the published metrics besides the models table."""
        return {}

    def published_values_path(self, block: Mapping[str, Any]) -> Path | None:
        """The CSV of the paper's published values for this setting, if any (block key
        ``published_values``, else the class attribute's file beside the module)."""
        if block.get("published_values"):
            return Path(block["published_values"])
        if self.published_values is None:
            return None
        return Path(sys.modules[type(self).__module__].__file__).parent / "data" / self.published_values

    def has_published_metrics(self, block: Mapping[str, Any], sheet: pd.DataFrame) -> bool:
        """Whether the collection publishes accuracies of these models: an input of its own
        (``published_inputs``) or a published column of the sheet with a value."""
        if "published" not in self.metric_sources:
            return False
        columns = [c for c in self.published if c in sheet]
        return bool(self.published_inputs(block)) or bool(columns and sheet[columns].notna().any().any())

    # --- jobs ---
    def dataset(self, block: Mapping[str, Any], inputs: Mapping[str, Path]) -> tuple[Splits, pd.DataFrame]:
        """The evaluation splits (train, test, shift:<name>) and a table of where each example
        comes from (columns split, index: its row in the source data)."""
        raise ValueError(f"setting {self.name!r} has no evaluation data: use {self.name}.metrics: published")

    def subset(self, block: Mapping[str, Any], n: int, seed: int, inputs: Mapping[str, Path]) -> tuple[torch.Tensor, torch.Tensor, pd.DataFrame]:
        """The n examples on which sharpness is measured (a sample drawn with ``seed``, or the
        first n where the setting says so), and the table of where each comes from: columns
        position (its place in the subset), label, source (file, relative to the data root or
        the input) and index (its row in the source)."""
        raise NotImplementedError

    def test_subset(self, block: Mapping[str, Any], n: int, inputs: Mapping[str, Path]) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Up to n test examples for sharpness on test data (appendix H; definitions with
        ``data: test``), from the inputs of :meth:`subset`; None: the setting offers none."""
        return None

    def augment_subset(self, block: Mapping[str, Any], x: torch.Tensor, seed: int) -> torch.Tensor | None:
        """The sharpness subset under the setting's training augmentation, one fixed draw from
        ``seed`` (appendix H; ``data: augmented``); None: the setting offers none."""
        return None

    def heads(self) -> Mapping[str, Head]:
        """Evaluation splits whose classes are not the model's outputs, and how their labels
        meet the logits (ImageNet-R/-A, ObjectNet, HANS)."""
        return {}

    def load_model(self, path: Path, arch: str, device: torch.device) -> nn.Module:
        """The model stored at ``path`` (architecture ``arch`` of its sheet row), in eval mode on ``device``."""
        raise NotImplementedError

    def train(self, row: Mapping[str, Any], splits: Splits, device: torch.device, on_epoch) -> tuple[nn.Module, list[dict]]:
        """Train the model of sheet row ``row`` (for settings whose sheet has ``source: train``)."""
        raise ValueError(f"setting {self.name!r} trains no models")

    def save_model(self, model: nn.Module, row: Mapping[str, Any], path: Path, num_classes: int, init_state: dict[str, torch.Tensor] | None = None) -> None:
        """Store a model trained here (sharpgen's checkpoint format unless the setting has its own),
        with its initial weights when the setting knows them."""
        from sharpgen import checkpoint

        checkpoint.save(model, path, arch=row["arch"], width=row.get("width"), num_classes=num_classes, init_state=init_state)

    def initial_state(self, row: Mapping[str, Any], num_classes: int) -> dict[str, torch.Tensor] | None:
        """The weights that ``train`` starts from for sheet row ``row`` (stored with the checkpoint
        for the distance from initialisation); None when the setting does not know them."""
        return None

    def load_initial_state(self, path: Path) -> dict[str, torch.Tensor] | None:
        """The initial weights stored with the checkpoint at ``path``, if any."""
        return None

    def published_metrics(self, sheet: pd.DataFrame, inputs: Mapping[str, Path]) -> pd.DataFrame:
        """The metrics rows of the published accuracies (error = 1 - accuracy)."""
        from sharpgen.metrics import published_metrics

        return published_metrics(self.name, sheet, self.published)


class Collection(Setting):
    """A setting whose models are downloaded (or linked from the user's disk), not trained here."""

    metric_sources = ("published", "evaluate")
    block_schema: ClassVar[Mapping[str, Any]] = {
        "models": {"description": "How many models of the collection to use (the first k; all when absent).", "type": "integer", "minimum": 1},
        "data_root": {"description": "Folder with the setting's data, read by jobs only (see the setting's layout in the README).", "type": "string"},
        "base_url": {"description": "A mirror: replaces the URL prefix (everything before the file name) of every checkpoint.", "type": "string"},
        "arch": {"description": "Replaces every model's architecture string (tests with tiny checkpoints, custom architectures).", "type": "string"},
    }
    sheet_keys = ("models", "base_url", "arch")
    data_keys = ("data_root",)

    def collection(self, block: Mapping[str, Any]) -> pd.DataFrame:
        """The whole collection's sheet, before ``models``, ``arch`` and ``base_url`` apply."""
        raise NotImplementedError

    def sheet(self, block: Mapping[str, Any]) -> pd.DataFrame:
        sheet = self.collection(block)
        if "models" in block:
            sheet = sheet.head(block["models"])
        if "arch" in block:
            sheet = sheet.assign(arch=block["arch"])
        if block.get("base_url") and "url" in sheet:
            sheet = sheet.assign(url=[mirrored(u, block["base_url"]) for u in sheet["url"]])
        return sheet.reset_index(drop=True)


def mirrored(url: str, base_url: str | None) -> str:
    """``url`` with its prefix (everything up to the file name) replaced by ``base_url``."""
    if not base_url or not url:
        return url
    return f"{base_url.rstrip('/')}/{url.rsplit('/', 1)[-1]}"


def data_root(setting: str, block: Mapping[str, Any], relative: str, layout: str) -> Path:
    """``<data_root>/<relative>`` when it exists, else an error naming ``<setting>.data_root``."""
    root = block.get("data_root")
    if not root:
        raise FileNotFoundError(f"config {setting}.data_root is not set; expected {layout}")
    path = Path(root) / relative
    if not path.exists():
        raise FileNotFoundError(f"config {setting}.data_root = {root!r}: {path} does not exist; expected {layout}")
    return path
