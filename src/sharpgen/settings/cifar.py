"""Setting "cifar": the authors' ResNet-18 / ViT models trained from scratch on CIFAR-10.

Models come from any mix of three sources, all in one model sheet:

- ``zoo``: a grid trained here with the authors' recipe (``source: train``): 200 epochs of SGD
  with momentum 0.9, batch size 128, the triangular ("cyclic") learning rate peaking at lr_max,
  SAM with radius sam_rho, standard augmentation and RandAugment as switches (the authors' port of
  RandAugment by default, torchvision's with ``randaug_impl: torchvision``), no weight decay
  unless set (see ``sharpgen.training``, ``sharpgen.data.cifar_augment``, ``sharpgen.data.randaugment``);
- ``checkpoints_dir`` / ``checkpoint_urls``: the authors' checkpoint files, whose names carry
  the hyperparameters (``... model=resnet18 epochs=200 lr_max=0.05 model_width=64 sam_rho=0.1
  ... seed=0 ...``; see ``parse_checkpoint_name``);
- ``models_csv``: a CSV (``model_id, arch, url or path, lr, sam_rho, augment, randaug``;
  optional ``epochs, batch_size, model_width, label_noise, train_acc, test_acc, cifar10c_acc``).

``arch`` is ``"module:function"`` or ``"module:function(key=value, ...)"``: a factory returning
the untrained ``nn.Module`` whose state dict the checkpoint holds (the paper's families:
``sharpgen.networks.architectures:preact_resnet18`` and ``...:simple_vit``, see ``FAMILIES``).
A checkpoint is ``{"last": state_dict, ...}`` (the authors' format, also what training here
writes) or a plain state dict. Data: CIFAR-10 (downloaded) for training, evaluation and
sharpness; CIFAR-10-C under ``data_root`` for ``metrics: evaluate``.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pandas as pd

from sharpgen.settings import Collection, Ref, register
from sharpgen.settings.base import SHIFT_PREFIX, data_root

SETTING = "cifar"
ARCHIVE = "cifar-10-python.tar.gz"
TRAIN_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10C_LAYOUT = "CIFAR-10-C: <data_root>/CIFAR-10-C/<corruption>.npy and labels.npy"
# the authors' model names -> our factories (state-dict compatible with their checkpoints)
FAMILIES = {
    "resnet18": "sharpgen.networks.architectures:preact_resnet18",
    "vit_exp": "sharpgen.networks.architectures:simple_vit",
}
DEFAULT_WIDTH = {"resnet18": 64, "vit_exp": 512}
CHECKPOINT_SUFFIXES = (".pth", ".pt")
OPTIONAL = ("epochs", "batch_size", "model_width", "label_noise", "train_acc", "test_acc", "cifar10c_acc")
REQUIRED = ("model_id", "arch", "location", "lr", "sam_rho", "augment", "randaug")
NUMERIC = ("lr", "sam_rho", "epochs", "batch_size", "model_width", "label_noise")
BOOLEAN = ("augment", "randaug")
EVAL_TRAIN = 10_000  # train error and loss on the first 10,000 training images, as the authors
ACCURACIES = ("train_acc", "test_acc", "cifar10c_acc")
TRAIN_SIZE = 50_000  # CIFAR-10 training images
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._=+-]*")
_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}
_KEY_VALUE = re.compile(r"(?:^|\s)([a-z][a-z0-9_]*)=(\S*)")

_FAMILY_SCHEMA = {
    "description": "One architecture family of the zoo: its learning rates and size.",
    "type": "object", "additionalProperties": False, "required": ["lr_max"],
    "properties": {
        "lr_max": {"description": "Peak learning rates of the triangular schedule.", "type": "array", "items": {"type": "number", "exclusiveMinimum": 0}, "minItems": 1},
        "width": {"description": "model_width: ResNet channels of the first stage (64), ViT dim (512).", "type": "integer", "minimum": 4},
        "depth": {"description": "ViT blocks (6); tests use fewer.", "type": "integer", "minimum": 1},
        "heads": {"description": "ViT heads of 64 (16); tests use fewer.", "type": "integer", "minimum": 1},
    },
}


def _as_bool(sheet_path: Path, column: str, values: pd.Series) -> pd.Series:
    text = values.astype(str).str.strip().str.lower()
    bad = sorted(set(text) - _TRUE - _FALSE)
    if bad:
        raise ValueError(f"{sheet_path}: column {column!r} must be true/false (or 1/0, yes/no), got {bad}")
    return text.isin(_TRUE)


def lr_bin(lr: float) -> float:
    """The octave of a learning rate, 2 ** round(log2 lr): the discrete lr axis of Psi."""
    return float(2.0 ** round(math.log2(lr))) if lr > 0 else float("nan")


def augmentation(augment: bool, randaug: bool) -> str:
    """The augmentation setting of a model, the paper's subgroups: ``none``, ``standard`` (random
    crop and flip) or ``randaug`` (RandAugment on top of the standard one); ``randaug-only`` for
    RandAugment without the standard augmentation (not in the authors' grid)."""
    if randaug:
        return "randaug" if augment else "randaug-only"
    return "standard" if augment else "none"


def family_of(arch: str) -> str:
    """The authors' model name of an arch string (its factory's name when it is none of theirs)."""
    target = arch.split("(", 1)[0].strip()
    for family, factory in FAMILIES.items():
        if target == factory:
            return family
    return target.rpartition(":")[2]


def arch_string(family: str, **kwargs: Any) -> str:
    """The arch string of one of the authors' families with factory arguments."""
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items() if v is not None)
    return f"{FAMILIES[family]}({args})" if args else FAMILIES[family]


def model_id(family: str, width: int, lr: float, sam_rho: float, augment: bool, randaug: bool, epochs: int, seed: int,
             randaug_impl: str = "authors") -> str:
    """A readable, file-name-safe id from a model's hyperparameters (``-tv``: torchvision's RandAugment)."""
    impl = "-tv" if randaug and randaug_impl == "torchvision" else ""
    return f"{family}-w{width}-lr{lr:g}-sam{sam_rho:g}-aug{int(augment)}-ra{int(randaug)}{impl}-e{epochs}-s{seed}"


def _parse_bool(value: str, key: str, name: str) -> bool:
    if value.lower() in _TRUE | {"t"}:
        return True
    if value.lower() in _FALSE | {"f"}:
        return False
    raise ValueError(f"checkpoint {name!r}: {key}={value} is not a boolean")


def parse_checkpoint_name(name: str) -> dict[str, Any]:
    """The hyperparameters in the name of one of the authors' checkpoint files.

    Their training script names a model ``<timestamp> dataset=cifar10 model=<model> epochs=<E>
    lr_max=<lr> model_width=<w> l2_reg=<wd> sam_rho=<rho> batch_size=<b> ... p_label_noise=<p>
    seed=<s>`` (their evaluation script selects ``*model=resnet18*lr_schedule=cyclic*epoch=200*``),
    with ``augm``/``randaug`` (or ``no_data_augm``) flags: every space-separated ``key=value`` is
    read. Required: ``model`` (resnet18 or vit_exp) and ``lr_max``.
    """
    stem = name
    for suffix in CHECKPOINT_SUFFIXES:
        stem = stem.removesuffix(suffix)
    values = dict(_KEY_VALUE.findall(stem))
    missing = [k for k in ("model", "lr_max") if k not in values]
    if missing:
        raise ValueError(f"checkpoint {name!r}: the name lacks {missing} (expected key=value pairs such as model=resnet18 lr_max=0.05)")
    family = values["model"]
    if family not in FAMILIES:
        raise ValueError(f"checkpoint {name!r}: model={family} is not one of the paper's families {sorted(FAMILIES)}")
    try:
        number = {k: float(values[k]) for k in ("lr_max", "sam_rho", "model_width", "epochs", "epoch", "seed", "l2_reg", "batch_size", "p_label_noise") if k in values}
    except ValueError as error:
        raise ValueError(f"checkpoint {name!r}: a numeric field is not a number ({error})") from None
    if "augm" in values:
        augment = _parse_bool(values["augm"], "augm", name)
    elif "no_data_augm" in values:
        augment = not _parse_bool(values["no_data_augm"], "no_data_augm", name)
    else:
        augment = True  # their training script augments unless told not to
    randaug = _parse_bool(values["randaug"], "randaug", name) if "randaug" in values else False
    return {
        "family": family, "model_width": int(number.get("model_width", DEFAULT_WIDTH[family])), "lr": number["lr_max"],
        "sam_rho": number.get("sam_rho", 0.0), "augment": augment, "randaug": randaug,
        "epochs": number.get("epochs", number.get("epoch", float("nan"))), "seed": number.get("seed", float("nan")), "weight_decay": number.get("l2_reg", float("nan")),
        "batch_size": number.get("batch_size", float("nan")), "label_noise": number.get("p_label_noise", float("nan")),
    }


def imported(names: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Sheet rows of checkpoint files given as (file name, location: path or URL)."""
    rows = []
    for name, location in names:
        hp = parse_checkpoint_name(name)
        epochs, seed = (0 if math.isnan(hp[k]) else int(hp[k]) for k in ("epochs", "seed"))
        mid = model_id(hp["family"], hp["model_width"], hp["lr"], hp["sam_rho"], hp["augment"], hp["randaug"], epochs, seed)
        is_url = bool(re.match(r"https?://", location))
        rows.append({
            "model_id": mid, "arch": arch_string(hp["family"], width=hp["model_width"]),
            "source": "download" if is_url else "local", "url": location if is_url else "",
            "filename": f"{mid}.pth", "path": "" if is_url else str(Path(location).resolve()),
            **hp,
        })
    return rows


def manifest(sheet_path: Path) -> pd.DataFrame:
    """Validate the user's CSV of CIFAR-10 models and return its part of the model sheet."""
    sheet_path = Path(sheet_path)
    if not sheet_path.is_file():
        raise FileNotFoundError(f"CIFAR-10 model sheet {sheet_path} does not exist")
    raw = pd.read_csv(sheet_path, dtype=str, keep_default_na=False)
    places = [c for c in ("location", "url", "path", "url_or_path") if c in raw]
    if len(places) > 1:
        raise ValueError(
            f"{sheet_path}: columns {places} all give a checkpoint's location; keep one column "
            "(named location, url or path) holding a URL or a local path per row"
        )
    raw = raw.rename(columns={c: "location" for c in places})
    missing = [c for c in REQUIRED if c not in raw.columns]
    if missing:
        raise ValueError(f"{sheet_path}: missing required columns {missing}; required: {list(REQUIRED)}")
    if raw.empty:
        raise ValueError(f"{sheet_path}: no models listed")
    bad_ids = [m for m in raw["model_id"] if not _SAFE_ID.fullmatch(m)]
    dups = sorted(raw["model_id"][raw["model_id"].duplicated()].unique())
    if bad_ids or dups:
        raise ValueError(f"{sheet_path}: model_id must be unique and filesystem-safe; bad {bad_ids}, duplicated {dups}")
    bad_arch = [a for a in raw["arch"] if ":" not in a]
    if bad_arch:
        raise ValueError(f"{sheet_path}: arch must be 'module:function' (a model factory), got {bad_arch}")
    sheet = raw.copy()
    for col in (c for c in NUMERIC if c in sheet):
        values = pd.to_numeric(sheet[col].replace("", None), errors="coerce")
        if values.isna().any():
            rows = list(sheet.loc[values.isna(), "model_id"])
            raise ValueError(f"{sheet_path}: column {col!r} must be numeric; empty or invalid for {rows}")
        sheet[col] = values
    for col in BOOLEAN:
        sheet[col] = _as_bool(sheet_path, col, sheet[col])
    for col in (c for c in ACCURACIES if c in sheet):
        values = pd.to_numeric(sheet[col].replace("", None), errors="coerce")
        out_of_range = sheet.loc[(values < 0) | (values > 1), "model_id"]
        if len(out_of_range):
            raise ValueError(
                f"{sheet_path}: column {col!r} must be a fraction in [0, 1] (percent? divide by 100); "
                f"rows {list(out_of_range)} have {list(values[out_of_range.index])}"
            )
        sheet[col] = values
    is_url = sheet["location"].str.match(r"https?://")
    local = sheet["location"].where(~is_url)
    sheet["source"] = is_url.map({True: "download", False: "local"})
    sheet["url"] = sheet["location"].where(is_url, "")
    sheet["filename"] = [Path(p).name if isinstance(p, str) else f"{m}.pt"
                         for p, m in zip(local, sheet["model_id"])]
    sheet["path"] = [str((sheet_path.parent / p).resolve()) if isinstance(p, str) else ""
                     for p in local]
    sheet["family"] = [family_of(a) for a in sheet["arch"]]
    return sheet.drop(columns="location")


def zoo_rows(zoo: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per point of the training grid: family x lr_max x sam_rho x augmentation x seed.

    ``augm: false`` with ``randaug: true`` is left out (RandAugment runs on top of the standard
    augmentation, as in the authors' loader).
    """
    rows = []
    for family, recipe in zoo.get("families", {}).items():
        width = int(recipe.get("width", DEFAULT_WIDTH[family]))
        extra = {k: recipe[k] for k in ("depth", "heads") if k in recipe}
        arch = arch_string(family, width=width, **extra)
        grid = itertools.product(recipe["lr_max"], zoo["sam_rho"], zoo["augm"], zoo["randaug"], zoo["seeds"])
        for lr, rho, augm, randaug, seed in grid:
            if randaug and not augm:
                continue
            rows.append({
                "model_id": model_id(family, width, lr, rho, augm, randaug, zoo["epochs"], seed, zoo["randaug_impl"]), "arch": arch, "source": "train",
                "url": "", "filename": "", "path": "", "family": family, "model_width": width, "lr": float(lr),
                "sam_rho": float(rho), "augment": bool(augm), "randaug": bool(randaug), "randaug_impl": zoo["randaug_impl"], "epochs": zoo["epochs"],
                "batch_size": zoo["batch_size"], "seed": seed, "weight_decay": zoo["weight_decay"], "amp": zoo["amp"],
            })
    return rows


def checkpoint_files(block: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(file name, location) of the checkpoints of ``checkpoints_dir`` and ``checkpoint_urls``."""
    out = []
    if "checkpoints_dir" in block:
        folder = Path(block["checkpoints_dir"])
        if not folder.is_dir():
            raise FileNotFoundError(f"config cifar.checkpoints_dir = {str(folder)!r} is not a folder")
        files = sorted(p for p in folder.iterdir() if p.suffix in CHECKPOINT_SUFFIXES)
        if not files:
            raise ValueError(f"config cifar.checkpoints_dir = {str(folder)!r} holds no {'/'.join(CHECKPOINT_SUFFIXES)} files")
        out += [(p.name, str(p)) for p in files]
    out += [(unquote(Path(urlparse(url).path).name), url) for url in block.get("checkpoint_urls", [])]
    return out


def resolve_factory(arch: str):
    """The zero-argument model constructor named by ``arch`` (``sharpgen.networks.factory``)."""
    from sharpgen.networks.factory import resolve

    return resolve(arch)


def load_model(path: Path, arch: str):
    """Build ``arch`` and load a checkpoint (plain state dict or the authors' ``{"last": ...}``)."""
    from sharpgen.networks import factory

    return factory.load_model(path, arch)


@register
class Cifar(Collection):
    name = SETTING
    description = "The authors' ResNet-18 and ViT models on CIFAR-10: trained here, or their checkpoints (folder, URLs or a CSV)."
    columns = (
        ("url", "string"), ("filename", "string"), ("path", "string"), ("family", "string"), ("lr", "float64"),
        ("lr_bin", "float64"), ("sam_rho", "float64"), ("augment", "bool"), ("randaug", "bool"), ("randaug_impl", "string"),
        ("augmentation", "string"), ("seed", "float64"),
        ("weight_decay", "float64"), ("amp", "bool"), *((c, "float64") for c in OPTIONAL),
    )
    metric_sources = ("evaluate", "published")
    published_values = "published_values.csv"
    published = {"train_acc": "train", "test_acc": "test", "cifar10c_acc": f"{SHIFT_PREFIX}cifar10c"}
    eval_sizes = {"train": EVAL_TRAIN}
    block_schema = {
        **Collection.block_schema,
        "models_csv": {"description": "A CSV model sheet (model_id, arch, url or path, lr, sam_rho, augment, randaug; optional epochs, batch_size, model_width, label_noise, train_acc, test_acc, cifar10c_acc).", "type": "string"},
        "checkpoints_dir": {"description": "A folder of the authors' checkpoint files (*.pth, *.pt); hyperparameters are parsed from the file names.", "type": "string"},
        "checkpoint_urls": {"description": "URLs of the authors' checkpoint files; hyperparameters are parsed from the file names.", "type": "array", "items": {"type": "string"}, "default": []},
        "data_url": {"description": "Where cifar-10-python.tar.gz is downloaded from (a mirror).", "type": "string", "default": TRAIN_URL},
        "cifar10c": {
            "description": "CIFAR-10-C as robustbench's load_cifar10c gives it to the authors' evaluation.",
            "type": "object", "additionalProperties": False, "default": {},
            "properties": {
                "n": {"description": "Images evaluated (the first n of the shuffled pool).", "type": "integer", "minimum": 1, "default": 10000},
                "pool": {"description": "robustbench's n_examples: ceil(pool / 15) images per corruption, shuffled.", "type": "integer", "minimum": 15, "default": 15000},
                "severity": {"description": "Corruption severity (1-5).", "type": "integer", "minimum": 1, "maximum": 5, "default": 5},
                "seed": {"description": "Seed of NumPy's global generator before the shuffle.", "type": "integer", "default": 0},
            },
        },
        "zoo": {
            "description": "The grid trained here with the authors' recipe; one model per family x lr_max x sam_rho x augm x randaug x seed (randaug only with augm).",
            "type": "object", "additionalProperties": False, "default": {},
            "properties": {
                "families": {"description": "resnet18 (PreActResNet-18) and/or vit_exp (SimpleViT) with their learning rates.", "type": "object", "additionalProperties": False, "default": {},
                             "properties": {"resnet18": _FAMILY_SCHEMA, "vit_exp": _FAMILY_SCHEMA}},
                "sam_rho": {"description": "SAM radii (0 = plain SGD).", "type": "array", "items": {"type": "number", "minimum": 0}, "minItems": 1, "default": [0.0]},
                "augm": {"description": "Standard augmentation (random crop with padding 4, horizontal flip) or none.", "type": "array", "items": {"type": "boolean"}, "minItems": 1, "default": [True]},
                "randaug": {"description": "RandAugment(2, 14) on top of the standard augmentation or not.", "type": "array", "items": {"type": "boolean"}, "minItems": 1, "default": [False]},
                "randaug_impl": {"description": "Which RandAugment: authors (their port: 16 operations drawn with replacement, absolute-pixel translations, Invert, SolarizeAdd, Cutout; sharpgen.data.randaugment) or torchvision (torchvision's milder RandAugment; model ids get -tv).", "type": "string", "enum": ["authors", "torchvision"], "default": "authors"},
                "seeds": {"description": "Training seeds.", "type": "array", "items": {"type": "integer"}, "minItems": 1, "default": [0]},
                "epochs": {"description": "Training epochs.", "type": "integer", "minimum": 1, "default": 200},
                "batch_size": {"description": "Batch size.", "type": "integer", "minimum": 1, "default": 128},
                "weight_decay": {"description": "Weight decay (SGD's, coupled; the authors' l2_reg).", "type": "number", "minimum": 0, "default": 0.0},
                "amp": {"description": "bfloat16 autocast for training on CUDA (evaluation and sharpness stay float32).", "type": "boolean", "default": True},
            },
        },
    }
    sheet_keys = (*Collection.sheet_keys, "models_csv", "checkpoints_dir", "checkpoint_urls", "zoo")
    data_keys = (*Collection.data_keys, "data_url", "cifar10c")
    defaults = {"sharpness": {"max_train_error": 0.01}, "figures": {"color": "lr", "marker": "augmentation"},
                "correlation": {"hyperparameters": ["lr"]}}

    def collection(self, block: Mapping[str, Any]) -> pd.DataFrame:
        frames = []
        if "models_csv" in block:
            frames.append(manifest(Path(block["models_csv"])))
        rows = imported(checkpoint_files(block)) + zoo_rows(block.get("zoo", {}))
        if rows:
            frames.append(pd.DataFrame(rows))
        if not frames:
            raise ValueError("config cifar: no models; set cifar.zoo.families (train here), cifar.checkpoints_dir or cifar.checkpoint_urls (the authors' files) or cifar.models_csv (a CSV model sheet)")
        sheet = pd.concat(frames, ignore_index=True)
        known = {name for name, _ in self.columns} | {"model_id", "arch", "source"}
        unknown = sorted(set(sheet.columns) - known)
        if unknown:
            raise ValueError(f"config cifar.models_csv ({block.get('models_csv')}): columns {unknown} are not known; allowed: {sorted(known)}")
        for column, dtype in self.columns:
            if column not in sheet:
                sheet[column] = False if dtype == "bool" else float("nan")
        sheet["amp"] = sheet["amp"].fillna(False).astype(bool)
        sheet["lr_bin"] = [lr_bin(lr) for lr in sheet["lr"]]
        sheet["augmentation"] = [augmentation(bool(a), bool(r)) for a, r in zip(sheet["augment"], sheet["randaug"])]
        sheet.insert(0, "setting", self.name)
        return sheet[["setting", "model_id", "arch", "source", *(c for c, _ in self.columns)]]

    def evaluated_splits(self, block: Mapping[str, Any]) -> tuple[str, ...]:
        return ("train", "test", f"{SHIFT_PREFIX}cifar10c")

    def train_size(self, block: Mapping[str, Any]) -> int:
        return TRAIN_SIZE

    def downloads(self, block: Mapping[str, Any]) -> dict[str, str]:
        return {ARCHIVE: block.get("data_url", TRAIN_URL)}  # the data set, never mirrored with the checkpoints

    def dataset_inputs(self, block: Mapping[str, Any], sheet: pd.DataFrame) -> dict[str, Ref]:
        return {"archive": Ref("download", ARCHIVE)}

    subset_inputs = dataset_inputs

    def dataset(self, block: Mapping[str, Any], inputs: Mapping[str, Path]):
        """CIFAR-10 train (all, for training; evaluated on the first 10,000) and test, and
        CIFAR-10-C from ``data_root`` as robustbench's loader gives it to the authors."""
        from sharpgen.data.sources.cifar10 import cifar10, cifar10c_robustbench

        corrupted = data_root(self.name, block, "CIFAR-10-C", CIFAR10C_LAYOUT)
        c = block["cifar10c"]
        splits = {
            "train": cifar10(inputs["archive"], "train"),
            "test": cifar10(inputs["archive"], "test"),
            f"{SHIFT_PREFIX}cifar10c": cifar10c_robustbench(corrupted, c["n"], c["severity"], c["pool"], c["seed"]),
        }
        index = pd.DataFrame({
            "index": [i for name in ("train", "test") for i in range(len(splits[name][1]))],
            "split": [name for name in ("train", "test") for _ in range(len(splits[name][1]))],
        })
        return splits, index

    def subset(self, block: Mapping[str, Any], n: int, seed: int, inputs: Mapping[str, Path]):
        """The first n CIFAR-10 training images in [0, 1] (the models normalise inside), as the
        authors' evaluation script takes them."""
        from sharpgen.data.sources.cifar10 import cifar10

        x, y = cifar10(inputs["archive"], "train", n)
        if len(y) < n:
            raise ValueError(f"cifar.sharpness.n = {n} but {inputs['archive']} has only {len(y)} training images; lower it")
        table = pd.DataFrame({"position": range(n), "label": y.numpy(), "source": Path(inputs["archive"]).name, "index": range(n)})
        return x, y, table

    def test_subset(self, block: Mapping[str, Any], n: int, inputs: Mapping[str, Path]):
        """The first n CIFAR-10 test images (the authors' --sharpness_on_test_set)."""
        from sharpgen.data.sources.cifar10 import cifar10

        return cifar10(inputs["archive"], "test", n)

    def augment_subset(self, block: Mapping[str, Any], x, seed: int):
        """The authors' --data_augm_sharpness: their RandAugment(2, 14), then crop and flip."""
        import torch

        from sharpgen.data.cifar_augment import augmenter

        return augmenter(True, True, "authors")(x, torch.Generator().manual_seed(seed))

    def load_model(self, path: Path, arch: str, device):
        return load_model(path, arch).to(device).eval()

    def train(self, row: Mapping[str, Any], splits, device, on_epoch):
        """The authors' recipe (module docstring) for one zoo row."""
        import torch

        from sharpgen.data.cifar_augment import augmenter
        from sharpgen.training import TrainConfig, feed_workers, fit, triangular_lr

        cfg = TrainConfig(
            arch=row["arch"], lr=row["lr"], batch_size=int(row["batch_size"]), augment=bool(row["augment"]),
            weight_decay=row["weight_decay"], sam_rho=row["sam_rho"], epochs=int(row["epochs"]), seed=int(row["seed"]),
        )
        torch.manual_seed(cfg.seed)
        model = resolve_factory(row["arch"])().to(device)
        x, y = splits["train"]
        impl = row.get("randaug_impl")
        augment = augmenter(bool(row["augment"]), bool(row["randaug"]), impl if isinstance(impl, str) and impl else "authors")
        workers = feed_workers(device) if augment is not None else None
        return fit(model, cfg, x, y, device, augment, triangular_lr, on_epoch, amp=bool(row["amp"]), workers=workers)

    def save_model(self, model, row: Mapping[str, Any], path: Path, num_classes: int, init_state=None) -> None:
        """The authors' format, ``{"last": state_dict}``, so that their scripts read it too (and
        ``"init"``: the initial weights, when given); identical models give identical bytes."""
        from sharpgen.atomic import save_torch

        save_torch({"last": model.state_dict(), **({"init": init_state} if init_state is not None else {})}, path)
