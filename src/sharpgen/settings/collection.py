"""Setting kind "collection": your own models, described by a config block and a model sheet.

Used under names you pick (``settings: [mine, theirs]``, each block ``kind: collection``); see
``docs/your-models.md``. The sheet (CSV or Parquet) has one row per model:

- ``model_id``: unique, file-name safe;
- ``checkpoint``: a file (relative to the sheet's folder or absolute), a folder holding one
  weights file, or an http(s) URL (downloaded and verified like the paper's checkpoints); torch
  state dicts, the paper authors' ``{"last": ...}`` and safetensors (``sharpgen.networks.factory``);
- ``arch``: ``timm:<name>``, ``torchvision:<name>``, ``transformers:<Class>(config=...)`` or
  ``module:function``, each with optional ``(key=value, ...)``;
- any other column: a hyperparameter, typed by ``columns`` of the block or inferred (int64,
  float64, bool, string), usable as colour, marker, subgroup and Psi axis; accuracies named in
  ``published`` are the metrics of ``metrics: published``.

Data (``data``): a train split (the sharpness sample and the training error), an optional test
split and named shift splits, each an image folder, a tensor/NumPy file or an embedded set
(``sharpgen.data.sources.files``), with the first ``n`` examples of each. Planning checks every
row and names the sheet's row and column (or the config key) of what is wrong; it imports the
libraries the architectures name, to check them.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from sharpgen.settings import Ref, Setting, register
from sharpgen.settings.base import DTYPES, SHEET_COLUMNS, SHIFT_PREFIX

KIND = "collection"
REQUIRED = ("model_id", "checkpoint", "arch")
LOCATION = (("url", "string"), ("filename", "string"), ("path", "string"), ("checkpoint", "string"))
RESERVED = {*SHEET_COLUMNS, *(c for c, _ in LOCATION)}
WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin")
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._=+-]*")
_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}
_PANDAS = {"string": "string", "float64": "float64", "int64": "Int64", "bool": "boolean"}

_SPLIT = {
    "type": "object", "additionalProperties": False, "required": ["path"],
    "properties": {
        "path": {"description": "An image folder (<path>/<class>/<image>), a .pt/.npz file with x and y, or digits:<split>.", "type": "string"},
        "n": {"description": "How many of its examples (the first n; all when absent).", "type": "integer", "minimum": 1},
    },
}


def _where(sheet: Path, i: int, model_id: Any, column: str) -> str:
    line = f"line {i + 2}" if sheet.suffix == ".csv" else f"row {i + 1}"
    return f"{sheet} {line} (model_id {model_id!r}), column {column!r}"


def _is_text(values: pd.Series) -> bool:
    """Whether a column holds text (a CSV's, or a Parquet string column)."""
    return values.dtype == object or pd.api.types.is_string_dtype(values)


def _cast(values: pd.Series, dtype: str, sheet: Path, ids: pd.Series, column: str) -> pd.Series:
    """``values`` (text or typed) as ``dtype``; an error names the first row that is not one."""
    if not _is_text(values) and dtype != "bool":
        try:
            return values.astype(_PANDAS[dtype])
        except (TypeError, ValueError):
            values = values.astype(str)
    text = values.astype("string").str.strip()
    empty = text.isna() | (text == "")
    if dtype == "string":
        return text.mask(empty)
    if dtype == "bool":
        lower = text.str.lower()
        bad = ~empty & ~lower.isin(_TRUE | _FALSE)
        out = lower.isin(_TRUE).astype("boolean").mask(empty)
    else:
        number = pd.to_numeric(text.mask(empty), errors="coerce")
        bad = ~empty & number.isna()
        if dtype == "int64":
            bad |= ~empty & number.notna() & (number != number.round())
        out = number.astype(_PANDAS[dtype]) if not bad.any() else number
    if bad.any():
        i = int(bad.to_numpy().nonzero()[0][0])
        raise ValueError(f"{_where(sheet, i, ids.iloc[i], column)}: {text.iloc[i]!r} is not {'true/false' if dtype == 'bool' else dtype}; "
                         f"fix the value or declare the column's type in the config (columns: {{{column}: string}})")
    return out


def _infer(values: pd.Series) -> str:
    """The dtype of an undeclared column: its Parquet type, else the narrowest that reads its CSV
    values (numeric as soon as one value is a number: a word among numbers is an error)."""
    if not _is_text(values):
        kind = values.dtype.kind
        return {"b": "bool", "i": "int64", "u": "int64", "f": "float64"}.get(kind, "string")
    text = values.astype("string").str.strip()
    text = text[text.notna() & (text != "")]
    if text.empty:
        return "string"
    if text.str.lower().isin(_TRUE - {"1"} | _FALSE - {"0"}).all():
        return "bool"
    number = pd.to_numeric(text, errors="coerce")
    if number.isna().all():
        return "string"
    # a column of numbers with a stray word is a typo, not text: casting names its row
    return "int64" if text[number.notna()].str.fullmatch(r"[+-]?\d+").all() else "float64"


def _weights_file(folder: Path) -> Path | None:
    found = sorted(p for p in folder.iterdir() if p.suffix in WEIGHT_SUFFIXES)
    return found[0] if len(found) == 1 else None


def read_sheet(name: str, block: Mapping[str, Any]) -> tuple[pd.DataFrame, tuple[tuple[str, str], ...]]:
    """The checked model sheet (``SHEET_COLUMNS``, location, hyperparameters) and its typed columns."""
    from sharpgen.networks.factory import check

    path = Path(block["sheet"])
    if not path.is_file():
        raise FileNotFoundError(f"config {name}.sheet = {str(path)!r}: no such file; give a CSV or Parquet model sheet")
    raw = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in REQUIRED if c not in raw.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}; a model sheet has {list(REQUIRED)} and hyperparameter columns")
    if raw.empty:
        raise ValueError(f"{path}: no models listed")
    reserved = sorted(set(raw.columns) & RESERVED - set(REQUIRED))
    if reserved:
        raise ValueError(f"{path}: columns {reserved} are reserved; rename them")
    ids = raw["model_id"].astype(str).str.strip()
    for i, model_id in enumerate(ids):
        if not _SAFE_ID.fullmatch(model_id):
            raise ValueError(f"{_where(path, i, model_id, 'model_id')}: not a file-name-safe id (letters, digits, . _ = + -)")
        if (ids.iloc[:i] == model_id).any():
            first = int((ids.iloc[:i] == model_id).to_numpy().nonzero()[0][0])
            raise ValueError(f"{_where(path, i, model_id, 'model_id')}: duplicated id (also {_where(path, first, model_id, 'model_id').split(' (')[0]}); give every model its own id")
    problems: dict[str, str | None] = {}
    rows = []
    for i, (model_id, arch, location) in enumerate(zip(ids, raw["arch"].astype(str).str.strip(), raw["checkpoint"].astype(str).str.strip())):
        if arch not in problems:
            problems[arch] = check(arch)
        if problems[arch]:
            raise ValueError(f"{_where(path, i, model_id, 'arch')}: unknown architecture {arch!r}: {problems[arch]}")
        if re.match(r"https?://", location):
            suffix = Path(location.split("?")[0]).suffix or ".pt"
            rows.append({"source": "download", "url": location, "filename": f"{model_id}{suffix}", "path": ""})
            continue
        file = Path(location) if Path(location).is_absolute() else path.parent / location
        if file.is_dir():
            inside = _weights_file(file)
            if inside is None:
                raise ValueError(f"{_where(path, i, model_id, 'checkpoint')}: folder {location!r} holds not exactly one weights file ({'/'.join(WEIGHT_SUFFIXES)})")
            file = inside
        if not file.is_file():
            raise FileNotFoundError(f"{_where(path, i, model_id, 'checkpoint')}: missing checkpoint {location!r} (looked for {file}); fix the path or add the file")
        rows.append({"source": "local", "url": "", "filename": f"{model_id}{file.suffix}", "path": str(file.resolve())})
    sheet = pd.DataFrame({"setting": name, "model_id": ids, "arch": raw["arch"].astype(str).str.strip(), **pd.DataFrame(rows).to_dict("list"),
                          "checkpoint": raw["checkpoint"].astype(str)})
    declared = block.get("columns", {})
    unknown = sorted(set(declared) - set(raw.columns))
    if unknown:
        raise ValueError(f"config {name}.columns: {unknown} are not columns of {path}; its columns: {list(raw.columns)}")
    columns = list(LOCATION)
    for column in (c for c in raw.columns if c not in REQUIRED):
        dtype = declared.get(column) or _infer(raw[column])
        sheet[column] = _cast(raw[column], dtype, path, ids, column)
        columns.append((column, dtype))
    for column in block.get("published", {}):
        if column not in sheet or dict(columns)[column] != "float64":
            raise ValueError(f"config {name}.published: {column!r} is not a numeric column of {path}")
        outside = (sheet[column] < 0) | (sheet[column] > 1)
        if outside.any():
            i = int(outside.to_numpy().nonzero()[0][0])
            raise ValueError(f"{_where(path, i, ids.iloc[i], column)}: accuracy {sheet[column].iloc[i]} is not a fraction in [0, 1] (percent? divide by 100)")
    return sheet, tuple(columns)


@register
class UserCollection(Setting):
    name = KIND
    description = "Your own models: a model sheet (CSV/Parquet) of checkpoints and hyperparameters, and your data (docs/your-models.md)."
    metric_sources = ("evaluate", "published")
    from_block = True
    sheet_keys = ("sheet", "columns", "published")
    data_keys = ("data",)
    block_schema = {
        "sheet": {"description": "The model sheet, CSV or Parquet: model_id, checkpoint (file, folder or URL), arch, then hyperparameter columns.", "type": "string"},
        "columns": {"description": "Types of hyperparameter columns (string, float64, int64, bool); undeclared ones are inferred.", "type": "object", "additionalProperties": {"enum": list(DTYPES)}, "default": {}},
        "published": {"description": "metrics: published: sheet columns of accuracies (fractions) -> metrics split (test, train, shift:<name>).", "type": "object", "additionalProperties": {"type": "string", "pattern": "^(train|test|shift:[A-Za-z0-9_.-]+)$"}, "default": {}},
        "data": {
            "description": "The evaluation splits and the training split of the sharpness sample.",
            "type": "object", "additionalProperties": False, "required": ["train"],
            "properties": {
                "train": {**_SPLIT, "description": "Training data: the sharpness sample (stratified, sharpness.seed) and the training error."},
                "test": {**_SPLIT, "description": "Test data."},
                "shifts": {"description": "Distribution-shift test sets by name (each a target <name>_error).", "type": "object", "default": {},
                           "propertyNames": {"pattern": "^[A-Za-z0-9_.-]+$"}, "additionalProperties": _SPLIT},
                "transform": {
                    "description": "Images only: {model: <timm arch>} for timm's pretrained-config transform, or resize/crop/interpolation/mean/std (RGB in [0, 1] before mean/std).",
                    "type": "object", "additionalProperties": False, "default": {},
                    "properties": {
                        "model": {"description": "An architecture string whose timm pretrained config gives the transform (timm.data.resolve_data_config).", "type": "string"},
                        "resize": {"description": "Resize the short side to this many px.", "type": "integer", "minimum": 1},
                        "crop": {"description": "Centre crop to this many px.", "type": "integer", "minimum": 1},
                        "interpolation": {"description": "Resize interpolation.", "enum": ["nearest", "bilinear", "bicubic", "lanczos"], "default": "bilinear"},
                        "mean": {"description": "Per-channel mean.", "type": "array", "items": {"type": "number"}, "minItems": 3, "maxItems": 3},
                        "std": {"description": "Per-channel standard deviation.", "type": "array", "items": {"type": "number", "exclusiveMinimum": 0}, "minItems": 3, "maxItems": 3},
                    },
                },
            },
        },
    }
    defaults = {"figures": {"color": "test_error", "marker": None}}

    def bound(self, name: str, block: Mapping[str, Any]) -> UserCollection:
        """This kind configured by one block: its sheet read and checked, its columns typed."""
        if "sheet" not in block or "data" not in block:
            raise ValueError(f"config {name}: a block of kind collection needs `sheet` (the model sheet) and `data` (at least data.train)")
        out = copy.copy(self)
        out.name = name
        out._sheet, out.columns = read_sheet(name, block)
        out.published = dict(block.get("published", {}))
        return out

    def sheet(self, block: Mapping[str, Any]) -> pd.DataFrame:
        return self._sheet

    def _splits(self, block: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
        data = block["data"]
        out = {"train": data["train"], **({"test": data["test"]} if "test" in data else {})}
        return out | {f"{SHIFT_PREFIX}{k}": v for k, v in data.get("shifts", {}).items()}

    def evaluated_splits(self, block: Mapping[str, Any]) -> tuple[str, ...]:
        return tuple(self._splits(block))

    def train_size(self, block: Mapping[str, Any]) -> int | None:
        """``n`` of the train split, else the images of an image folder (files: unknown at planning)."""
        train = block["data"]["train"]
        folder = Path(train["path"])
        count = sum(1 for c in folder.iterdir() if c.is_dir() for _ in c.iterdir()) if folder.is_dir() else None
        return min(filter(None, (train.get("n"), count)), default=None)

    def subset_inputs(self, block: Mapping[str, Any], sheet: pd.DataFrame) -> dict[str, Ref]:
        return {"dataset": Ref("dataset")}

    def dataset(self, block: Mapping[str, Any], inputs: Mapping[str, Path]):
        from sharpgen.data.sources.files import class_folders, read_split, transform

        splits, index = {}, []
        classes = class_folders(block["data"]["train"]["path"])
        image_transform = transform(block["data"].get("transform", {}))
        for split, spec in self._splits(block).items():
            x, y, table = read_split(spec["path"], spec.get("n"), classes, image_transform)
            splits[split] = (x, y)
            index.append(table.assign(split=split))
        return splits, pd.concat(index, ignore_index=True)[["split", "index", "source"]]

    def subset(self, block: Mapping[str, Any], n: int, seed: int, inputs: Mapping[str, Path]):
        """A class-stratified sample of n examples of the train split, in a seeded order."""
        from sharpgen import datasets
        from sharpgen.data.sample import stratified

        x, y = datasets.load(inputs["dataset"])["train"]
        if len(y) < n:
            raise ValueError(f"{self.name}.sharpness.n = {n} but the train split has only {len(y)} examples; lower it")
        rows = stratified(y.numpy(), n, seed)
        table = pd.DataFrame({"position": range(n), "label": y[rows].numpy(), "source": "train", "index": rows})
        return x[rows].contiguous(), y[rows].contiguous(), table

    def load_model(self, path: Path, arch: str, device):
        from sharpgen.networks.factory import load_model

        return load_model(path, arch).to(device).eval()
