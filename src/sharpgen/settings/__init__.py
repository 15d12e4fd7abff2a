"""The registry of settings: ``get(name)`` returns the registered ``Setting`` instance.

Like timm's ``create_model``, nothing outside this registry branches on a setting's name: a
setting is one module that defines a ``Setting`` subclass decorated with ``@register``. The
modules of this package register on first lookup; modules elsewhere are named, comma-separated,
in the environment variable ``SHARPGEN_SETTING_MODULES`` (they must be importable, e.g. on
``PYTHONPATH``). Importing a setting module imports neither torch, timm nor transformers.
"""

from __future__ import annotations

import importlib
import os
import pkgutil

from sharpgen.settings.base import Collection, Ref, Setting

__all__ = ["Collection", "Ref", "Setting", "get", "names", "register"]

_REGISTRY: dict[str, Setting] = {}
_LOADED = False
ENV_MODULES = "SHARPGEN_SETTING_MODULES"


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


def names() -> list[str]:
    """Every registered setting, sorted."""
    _load()
    return sorted(_REGISTRY)


def get(name: str) -> Setting:
    """The setting registered as ``name``; a clear error lists the known ones."""
    _load()
    if name not in _REGISTRY:
        raise ValueError(f"unknown setting {name!r}; known settings: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]
