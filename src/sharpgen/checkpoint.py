"""sharpgen's own checkpoint format for the models trained here: architecture and weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from sharpgen.atomic import save_torch

FORMAT = "sharpgen-checkpoint-1"


def save(
    model: nn.Module, path: str | Path, arch: str, width: int | None, num_classes: int, init_state: dict[str, Any] | None = None
) -> None:
    """Save architecture and weights atomically (identical models give identical bytes), and the
    initial weights when given (distance from initialisation needs them)."""
    payload = {"format": FORMAT, "arch": arch, "width": width, "num_classes": num_classes, "state_dict": model.state_dict()}
    if init_state is not None:
        payload["init_state_dict"] = init_state
    save_torch(payload, path)


def _read(path: Path) -> dict[str, Any]:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: checkpoint missing; run the workflow to create it") from None
    except Exception as error:  # truncated or foreign files raise many different errors
        detail = "empty file" if path.is_file() and path.stat().st_size == 0 else f"{type(error).__name__}: {error}"
        raise ValueError(f"{path}: unreadable checkpoint ({detail}); delete it and rerun the workflow") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path}: not a {FORMAT} file; delete it and rerun")
    return payload


def load(path: str | Path, device: torch.device, arch: str | None = None) -> nn.Module:
    """The model stored at ``path``, in eval mode on ``device``.

    The architecture is recorded in the file; ``arch`` (the model sheet's) must agree with it.
    """
    from sharpgen.networks.architectures import build_model

    path = Path(path)
    payload = _read(path)
    if arch is not None and payload.get("arch") != arch:
        raise ValueError(
            f"{path}: holds a {payload.get('arch')!r} model but the model sheet says {arch!r}; "
            "delete the checkpoint and rerun the workflow to train the right model"
        )
    model = build_model(payload["arch"], num_classes=payload["num_classes"], width=payload["width"])
    try:
        model.load_state_dict(payload["state_dict"])
    except (RuntimeError, KeyError, TypeError) as error:
        raise ValueError(
            f"{path}: weights do not fit architecture {payload['arch']!r} ({str(error).splitlines()[0]}); "
            "delete the checkpoint and rerun the workflow"
        ) from None
    return model.to(device).eval()


def load_init(path: str | Path) -> dict[str, Any] | None:
    """The initial weights stored with the checkpoint at ``path`` (None for older checkpoints)."""
    return _read(Path(path)).get("init_state_dict")
