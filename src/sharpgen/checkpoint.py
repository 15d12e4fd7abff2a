"""sharpgen's own checkpoint format for the models trained here: architecture and weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from sharpgen.atomic import atomic_path

FORMAT = "sharpgen-checkpoint-1"


def save(
    model: nn.Module, path: str | Path, arch: str, width: int | None, num_classes: int, init_state: dict[str, Any] | None = None
) -> None:
    """Save architecture and weights atomically, and the initial weights when given (distance from
    initialisation needs them)."""
    payload = {"format": FORMAT, "arch": arch, "width": width, "num_classes": num_classes, "state_dict": model.state_dict()}
    if init_state is not None:
        payload["init_state_dict"] = init_state
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def _read(path: Path) -> dict[str, Any]:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: checkpoint missing; run the workflow to create it") from None
    except Exception as error:  # truncated or foreign files raise many different errors
        raise ValueError(f"{path}: unreadable checkpoint ({type(error).__name__}: {error}); delete it and rerun") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path}: not a {FORMAT} file; delete it and rerun")
    return payload


def load(path: str | Path, device: torch.device) -> nn.Module:
    """The model stored at ``path`` (its architecture is recorded in the file), in eval mode on ``device``."""
    from sharpgen.networks.architectures import build_model

    payload = _read(Path(path))
    model = build_model(payload["arch"], num_classes=payload["num_classes"], width=payload["width"])
    model.load_state_dict(payload["state_dict"])
    return model.to(device).eval()


def load_init(path: str | Path) -> dict[str, Any] | None:
    """The initial weights stored with the checkpoint at ``path`` (None for older checkpoints)."""
    return _read(Path(path)).get("init_state_dict")
