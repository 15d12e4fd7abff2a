"""Models named by an architecture string, and checkpoints in the formats their authors save.

An architecture string is ``<target>`` or ``<target>(key=literal, ...)``; the target is

- ``timm:<name>``: ``timm.create_model(name, pretrained=False, **kwargs)``;
- ``torchvision:<name>``: ``torchvision.models.get_model(name, weights=None, **kwargs)``;
- ``transformers:<Class>``: ``Class(Class.config_class.from_json_file(config))`` with the keyword
  ``config`` naming a ``config.json``; the model returns its ``logits``;
- ``<module>:<function>``: any importable factory returning the untrained ``nn.Module``.

A checkpoint is a torch file holding a state dict, ``{"last": state_dict, ...}`` (the format of
the paper's authors) or ``{"state_dict": ...}``, or a ``.safetensors`` file. ``check`` answers at
planning whether a string names something that exists (it imports the library it names).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

LIBRARIES = ("timm", "torchvision", "transformers")
WRAPPERS = ("last", "state_dict", "model")  # keys under which checkpoints hold their state dict


def parse(arch: str) -> tuple[str, str, dict[str, Any]]:
    """(module, name, keyword arguments) of an architecture string."""
    target, paren, args = arch.partition("(")
    module, colon, name = target.strip().partition(":")
    if not colon or not module or not name:
        raise ValueError(f"architecture {arch!r}: expected 'timm:<name>', 'torchvision:<name>', 'transformers:<Class>' or 'module:function', each with optional (key=value, ...)")
    kwargs: dict[str, Any] = {}
    if paren:
        try:
            call = ast.parse(f"f({args}", mode="eval").body
            if not isinstance(call, ast.Call) or call.args:
                raise ValueError("only keyword arguments are allowed")
            kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
        except (SyntaxError, ValueError) as err:
            raise ValueError(f"cannot parse the arguments of architecture {arch!r} (expected '{target}(key=value, ...)'): {err}") from None
    return module, name, kwargs


def check(arch: str) -> str | None:
    """Why ``arch`` names no model (None when it does): the library lacks the name, or the
    factory's module or function does not exist."""
    try:
        module, name, kwargs = parse(arch)
    except ValueError as error:
        return str(error)
    if module == "timm":
        import timm

        return None if timm.is_model(name) else f"timm has no model {name!r} (timm.list_models('*{name[:6]}*') lists similar names)"
    if module == "torchvision":
        from torchvision import models

        return None if name in models.list_models() else f"torchvision has no model {name!r} (torchvision.models.list_models() lists them)"
    if module == "transformers":
        import transformers

        if not hasattr(transformers, name):
            return f"transformers has no class {name!r}"
        config = kwargs.get("config")
        return None if config and Path(config).is_file() else f"transformers:{name} needs config='<config.json>' naming an existing file, got {config!r}"
    if importlib.util.find_spec(module) is None:
        return f"module {module!r} of factory {arch!r} is not importable (is it on PYTHONPATH?)"
    return None if hasattr(importlib.import_module(module), name) else f"module {module!r} has no function {name!r}"


def _logits(model: nn.Module) -> nn.Module:
    """A transformers classifier whose call returns its logits (its weights under ``inner.``)."""
    from torch import nn

    class Logits(nn.Module):
        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner(x).logits

    return Logits(model)


def resolve(arch: str) -> Callable[[], nn.Module]:
    """The zero-argument constructor of the untrained model ``arch`` names."""
    module, name, kwargs = parse(arch)
    if module == "timm":
        import timm

        return lambda: timm.create_model(name, pretrained=False, **kwargs)
    if module == "torchvision":
        from torchvision import models

        return lambda: models.get_model(name, weights=None, **kwargs)
    if module == "transformers":
        import transformers

        cls = getattr(transformers, name)
        options = {k: v for k, v in kwargs.items() if k != "config"}
        return lambda: _logits(cls(cls.config_class.from_json_file(kwargs["config"]), **options))
    try:
        factory = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as err:
        raise ValueError(f"cannot import model factory {arch!r} (expected 'module:function'): {err}") from err
    return lambda: factory(**kwargs)


def read_state_dict(path: Path) -> dict[str, Any]:
    """The state dict stored at ``path`` in any of the formats of the module docstring."""
    import torch

    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: checkpoint missing; rerun the workflow to fetch it") from None
    except Exception as error:  # truncated, empty or foreign files raise many different errors
        detail = "empty file" if path.stat().st_size == 0 else f"{type(error).__name__}: {error}"
        raise ValueError(f"{path}: unreadable checkpoint ({detail}); replace the file (or delete a downloaded one) and rerun") from None
    for key in WRAPPERS:
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    if not isinstance(state, dict):
        raise ValueError(f"{path}: not a state dict (got {type(state).__name__}); save model.state_dict()")
    return state


def load_model(path: Path, arch: str) -> nn.Module:
    """Build ``arch`` and fill it, strictly, with the state dict stored at ``path``."""
    state = read_state_dict(path)
    model = resolve(arch)()
    if arch.startswith("transformers:") and not any(k.startswith("inner.") for k in state):
        state = {f"inner.{k}": v for k, v in state.items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ValueError(f"{path} does not match architecture {arch!r}: {str(err).splitlines()[0]}") from None
    return model
