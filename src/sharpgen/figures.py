"""Figures in the style of the paper: error versus sharpness, one point per model.

Colour encodes a continuous hyperparameter (the learning rate, log scale by
default, with a colorbar), marker a categorical one (augmentation or
architecture, with a legend), and each panel's title carries Kendall's tau-b
(see :mod:`sharpgen.correlation`) with two decimals.

Figures are plain ``matplotlib.figure.Figure`` objects (no pyplot, no global
state); the package style sheet ``style.mplstyle`` is applied through
``matplotlib.style.context`` while building and while saving.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Iterator, Mapping, Sequence
from importlib import resources
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib import colormaps, style
from matplotlib.cm import ScalarMappable
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure

from sharpgen.atomic import atomic_path
from matplotlib.lines import Line2D

from sharpgen.correlation import kendall

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")


@contextlib.contextmanager
def _style() -> Iterator[None]:
    """Apply the package style sheet for the duration of the block."""
    sheet = resources.files("sharpgen").joinpath("style.mplstyle")
    with resources.as_file(sheet) as path, style.context(path):
        yield


def _title(title: str, tau: float) -> str:
    """``title`` followed by a line with tau to two decimals ("—" for nan)."""
    tau_text = "—" if math.isnan(tau) else f"{tau:.2f}"
    return f"{title}\nτ = {tau_text}" if title else f"τ = {tau_text}"


def _use_log_x(values: np.ndarray) -> bool:
    """Log x axis when all finite values are positive and span more than two decades."""
    finite = values[np.isfinite(values)]
    return finite.size > 0 and bool((finite > 0).all()) and math.log10(finite.max() / finite.min()) > 2


def _color_norm(values: np.ndarray, log_color: bool) -> Normalize:
    """Colour normalisation over the finite ``values``; log scale needs positive values."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        raise ValueError("no finite colour values")
    if not log_color:
        return Normalize(finite.min(), finite.max())
    if (finite <= 0).any():
        raise ValueError("a log colour scale needs positive colour values")
    return LogNorm(finite.min(), finite.max())


def _marker_map(frames: Sequence[pd.DataFrame], marker: str | None) -> dict[object, str]:
    """Sorted categorical values of ``marker`` over all frames, mapped to marker symbols."""
    if marker is None:
        return {}
    if any(frame[marker].isna().any() for frame in frames):
        raise ValueError(f"column {marker!r} has missing values")
    values = sorted(set().union(*(frame[marker].unique().tolist() for frame in frames)))
    if len(values) > len(MARKERS):
        raise ValueError(f"{len(values)} values of {marker!r}, at most {len(MARKERS)} markers")
    return dict(zip(values, MARKERS, strict=False))


def _plot(
    panels: Sequence[tuple[pd.DataFrame, str, str]],
    x: str,
    y: str,
    color: str,
    marker: str | None,
    x_label: str,
    log_color: bool,
    suptitle: str | None = None,
    sharex: bool = True,
) -> Figure:
    """One row of scatter panels ``(frame, title, y_label)`` sharing x (unless not ``sharex``),
    colour and markers.

    The constrained layout is computed once and then frozen, so that every
    later save draws the same geometry (byte-identical files).
    """
    if not panels:
        raise ValueError("nothing to plot")
    frames = [frame[frame[x].notna() & frame[y].notna()] for frame, _, _ in panels]
    norm = _color_norm(np.concatenate([f[color].to_numpy(dtype=float) for f in frames]), log_color)
    markers = _marker_map(frames, marker)
    log_x = _use_log_x(np.concatenate([f[x].to_numpy(dtype=float) for f in frames]))
    with _style():
        cmap = colormaps[mpl.rcParams["image.cmap"]]
        width, height = mpl.rcParams["figure.figsize"]
        fig = Figure(figsize=(width * len(panels), height), layout="constrained")
        axes = fig.subplots(1, len(panels), sharex=sharex, squeeze=False)[0]
        for ax, shown, (frame, title, y_label) in zip(axes, frames, panels, strict=True):
            parts = [(shown, "o")] if marker is None else [(shown[shown[marker] == v], m) for v, m in markers.items()]
            for part, symbol in parts:
                ax.scatter(part[x], part[y], c=part[color].to_numpy(dtype=float), cmap=cmap, norm=norm, marker=symbol)
            ax.set_title(_title(title, kendall(frame[x], frame[y])[0]))
            ax.set_xlabel(x_label)
            ax.set_ylabel(y_label)
            if log_x if sharex else _use_log_x(shown[x].to_numpy(dtype=float)):
                ax.set_xscale("log")
        if markers:
            handles = [Line2D([], [], marker=m, linestyle="", color="0.35", label=str(v)) for v, m in markers.items()]
            axes[0].legend(handles=handles, title=marker)
        fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=list(axes), label=color)
        if suptitle:
            fig.suptitle(suptitle)
        fig.draw_without_rendering()
    fig.set_layout_engine("none")
    return fig


def plot_error_vs_sharpness(
    frame: pd.DataFrame,
    x: str,
    y: str,
    color: str,
    marker: str | None,
    title: str,
    x_label: str,
    y_label: str,
    log_color: bool = True,
) -> Figure:
    """Scatter ``y`` (an error) against ``x`` (a sharpness), one point per row (model).

    Points are coloured by column ``color`` (log scale when ``log_color``) with
    a colorbar, and shaped by the categorical column ``marker`` (or all circles
    when None) with a legend. The title is ``title`` plus ``τ = 0.xx``, tau-b
    from :func:`sharpgen.correlation.kendall` on ``(x, y)``. Rows missing ``x``
    or ``y`` are not drawn. The x axis is logarithmic when all x values are
    positive and span more than two decades, linear otherwise.
    """
    return _plot([(frame, title, y_label)], x, y, color, marker, x_label, log_color)


def plot_grid(
    frames: Mapping[str, pd.DataFrame],
    x: str,
    y: str,
    color: str,
    marker: str | None,
    x_label: str,
    log_color: bool = True,
    suptitle: str | None = None,
    y_label: str | None = None,
    sharex: bool = True,
) -> Figure:
    """A row of panels, one per entry of ``frames`` in mapping order, sharing the x axis.

    ``suptitle``, when given, titles the whole figure (e.g. the sharpness definition);
    ``y_label``, when given, labels every panel's y axis (else the panel's key does);
    ``sharex=False`` gives each panel its own x range (different quantities per panel).

    Each key (e.g. ``"Test error"``, ``"OOD error (CIFAR-10-C)"``) is its panel's
    title and y label; each frame has one row per model with columns ``x``,
    ``y``, ``color`` and ``marker``. Every panel is drawn as in
    :func:`plot_error_vs_sharpness` and titled with its own tau-b; the colour
    scale, marker legend (first panel) and log/linear x choice are common.
    """
    panels = [(frame, key, y_label or key) for key, frame in frames.items()]
    return _plot(panels, x, y, color, marker, x_label, log_color, suptitle, sharex)


def _save_options(suffix: str) -> tuple[str, dict[str, str | None]]:
    """Output format and fixed metadata (for byte-identical output) for a file suffix."""
    if suffix == ".png":
        return "png", {"Software": None}
    if suffix == ".pdf":
        return "pdf", {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": "sharpgen"}
    raise ValueError(f"unsupported figure suffix {suffix!r}; use .png or .pdf")


def save_figure(fig: Figure, path: Path) -> None:
    """Write ``fig`` to ``path`` (PNG or PDF by suffix) atomically and reproducibly.

    The figure is rendered in memory under the package style and written with
    :func:`sharpgen.atomic.atomic_path` (a temporary file in the same folder, then a rename), so
    a failure leaves any previous file at ``path`` intact. Identical figures give identical bytes.
    """
    path = Path(path)
    fmt, metadata = _save_options(path.suffix.lower())
    buffer = io.BytesIO()
    with _style():
        fig.savefig(buffer, format=fmt, metadata=metadata)
    with atomic_path(path) as temporary:
        temporary.write_bytes(buffer.getvalue())
