"""The registry of settings: ``get(name)`` returns the registered ``Setting`` instance.

Like timm's ``create_model``, nothing outside this registry branches on a setting's name: a
setting is one module that defines a ``Setting`` subclass decorated with ``@register``. The
modules of this package register on first lookup; modules elsewhere are named, comma-separated,
in the environment variable ``SHARPGEN_SETTING_MODULES`` (they must be importable, e.g. on
``PYTHONPATH``). Importing a setting module imports neither torch, timm nor transformers.

A config block may name its kind (``mine: {kind: collection, ...}``): ``bind`` then registers,
under the block's name, the kind's setting configured by the block (``Setting.bound``), so that
one kind serves several blocks. The workflow hands its bindings to its jobs in the environment
variable ``SHARPGEN_SETTING_BLOCKS`` (JSON: name -> kind and validated block).
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Mapping
from typing import Any
import pkgutil

from sharpgen.settings.base import Collection, Ref, Setting

__all__ = ["Collection", "Ref", "Setting", "bind", "bindings", "get", "names", "register"]

_REGISTRY: dict[str, Setting] = {}
_BOUND: dict[str, tuple[str, dict[str, Any]]] = {}  # block name -> (kind, validated block)
_LOADED = False
ENV_MODULES = "SHARPGEN_SETTING_MODULES"
ENV_BLOCKS = "SHARPGEN_SETTING_BLOCKS"


def register(cls: type[Setting]) -> type[Setting]:
    """Class decorator: register one instance of ``cls`` under ``cls.name``."""
    existing = _REGISTRY.get(cls.name)
    if existing is not None and type(existing).__qualname__ != cls.__qualname__:
        raise ValueError(f"setting {cls.name!r} is registered twice ({type(existing).__module__} and {cls.__module__})")
    _REGISTRY[cls.name] = cls()
    return cls


def _load() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    for info in pkgutil.iter_modules(__path__):
        if info.name != "base":
            importlib.import_module(f"{__name__}.{info.name}")
    for module in filter(None, (m.strip() for m in os.environ.get(ENV_MODULES, "").split(","))):
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise ValueError(f"{ENV_MODULES}: cannot import setting module {module!r} ({error})") from None
    for name, entry in json.loads(os.environ.get(ENV_BLOCKS) or "{}").items():
        bind(name, entry["kind"], entry["block"])


def bind(name: str, kind: str, block: Mapping[str, Any]) -> Setting:
    """Register under ``name`` the setting of kind ``kind`` configured by its validated ``block``."""
    _load()
    if kind not in _REGISTRY:
        raise ValueError(f"config {name}.kind: unknown setting kind {kind!r}; known kinds: {', '.join(sorted(_REGISTRY))}")
    if name != kind and name in _REGISTRY and name not in _BOUND:
        raise ValueError(f"config {name}: the block of kind {kind!r} is named like the registered setting {name!r}; rename the block")
    _BOUND[name] = (kind, dict(block))
    _REGISTRY[name] = _REGISTRY[kind].bound(name, block)
    return _REGISTRY[name]


def bindings() -> str:
    """The blocks bound so far, as the JSON value of ``SHARPGEN_SETTING_BLOCKS``."""
    return json.dumps({name: {"kind": kind, "block": block} for name, (kind, block) in _BOUND.items()}, separators=(",", ":"))


def names() -> list[str]:
    """Every registered setting (and bound block), sorted."""
    _load()
    return sorted(_REGISTRY)


def get(name: str) -> Setting:
    """The setting registered as ``name``; a clear error lists the known ones."""
    _load()
    if name not in _REGISTRY:
        raise ValueError(f"unknown setting {name!r}; known settings: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]
