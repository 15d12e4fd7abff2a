"""The one way a job loads a model: readable file, weights that fit the architecture, finite."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from sharpgen import settings


def load_checked(setting: str, model_id: str, path: str | Path, arch: str, device: torch.device) -> nn.Module:
    """Model ``model_id`` of ``setting`` from ``path``, in eval mode on ``device``.

    The setting's loader refuses an unreadable file and weights that do not fit ``arch``; NaN
    or infinite weights or buffers are refused here. Each error names the model, the file and
    the fix.
    """
    from sharpgen.evaluate import require_finite

    model = settings.get(setting).load_model(Path(path), arch, device)
    require_finite(model, model_id, path)
    return model
