"""Figures in the style of the paper: error versus sharpness, one point per model.

Colour encodes a continuous hyperparameter (the learning rate, log scale by
default, with a colorbar), marker a categorical one (augmentation or
architecture, with a legend), and each panel's title carries Kendall's tau-b
(see :mod:`sharpgen.correlation`) with two decimals. A figure is a grid: one
column per target, one row per sharpness variant (as the paper's Figures 2-4
show the same radius with logit normalisation on top and without below).

Markers: filled symbols, then the same symbols hollow (30 categories); a model
without a value is drawn as "x" (legend "n/a"); beyond 30 categories the rarest
share one symbol (legend "other"). A model without a colour value is grey.

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
from matplotlib.colors import LogNorm, Normalize, to_rgba
from matplotlib.figure import Figure

from sharpgen.atomic import atomic_path
from matplotlib.lines import Line2D

from sharpgen.correlation import kendall

SYMBOLS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "p", "h", "H", "d", "8")
MARKERS = tuple((s, True) for s in SYMBOLS) + tuple((s, False) for s in SYMBOLS)  # (symbol, filled)
MISSING, OTHER = "n/a", "other"
NO_COLOR = "0.6"  # models without a colour value (e.g. the linear probe's learning rate)


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


def use_log_color(values: np.ndarray) -> bool:
    """A log colour scale for positive values spanning at least a decade (learning rates), a
    linear one otherwise (dropout rates with zeros, error rates)."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    return finite.size > 0 and bool((finite > 0).all()) and finite.max() >= 10 * finite.min()


def _categories(frames: Sequence[pd.DataFrame], marker: str | None) -> dict[object, tuple[str, bool]]:
    """Category label -> (symbol, filled): sorted values of ``marker`` over all frames, the most
    frequent first to get a symbol of their own when there are more than ``MARKERS``."""
    if marker is None:
        return {}
    column = pd.concat([frame[marker] for frame in frames], ignore_index=True)
    counts = column.dropna().value_counts(sort=False)
    values = list(counts.index)
    if len(values) > len(MARKERS):
        keep = set(counts.sort_values(ascending=False, kind="stable").index[: len(MARKERS) - 1])
        values = [v for v in values if v in keep]
    try:
        values = sorted(values)
    except TypeError:
        values = sorted(values, key=str)
    out: dict[object, tuple[str, bool]] = dict(zip(values, MARKERS, strict=False))
    if len(counts) > len(values):
        out[OTHER] = MARKERS[len(values)]
    if column.isna().any():
        out[MISSING] = ("x", True)
    return out


def _category_of(frame: pd.DataFrame, marker: str, categories: Mapping[object, tuple[str, bool]]) -> pd.Series:
    """Each row's legend category: its value, ``other`` or ``n/a``."""
    return frame[marker].map(lambda v: MISSING if pd.isna(v) else v if v in categories else OTHER)


def _plot(
    rows: Sequence[tuple[str | None, Sequence[tuple[pd.DataFrame, str, str]]]],
    x: str,
    y: str,
    color: str,
    marker: str | None,
    x_label: str,
    log_color: bool,
    suptitle: str | None = None,
    sharex: bool = True,
) -> Figure:
    """A grid of scatter panels: ``rows`` of (row label, panels ``(frame, title, y_label)``),
    sharing x within a row (one sharpness variant; unless not ``sharex``), the colour scale and
    the markers.

    The constrained layout is computed once and then frozen, so that every
    later save draws the same geometry (byte-identical files).
    """
    if not rows or not all(panels for _, panels in rows) or len({len(p) for _, p in rows}) != 1:
        raise ValueError("nothing to plot, or rows with different numbers of panels")
    grid = [[frame[frame[x].notna() & frame[y].notna()] for frame, _, _ in panels] for _, panels in rows]
    frames = [f for row in grid for f in row]
    norm = _color_norm(np.concatenate([f[color].to_numpy(dtype=float) for f in frames]), log_color)
    categories = _categories(frames, marker)
    log_x = _use_log_x(np.concatenate([f[x].to_numpy(dtype=float) for f in frames]))
    n_rows, n_cols = len(rows), len(rows[0][1])
    with _style():
        cmap = colormaps[mpl.rcParams["image.cmap"]]
        width, height = mpl.rcParams["figure.figsize"]
        fig = Figure(figsize=(width * n_cols, height * n_rows), layout="constrained")
        axes = fig.subplots(n_rows, n_cols, sharex="row" if sharex else "none", squeeze=False)
        for r, ((label, panels), shown_row) in enumerate(zip(rows, grid, strict=True)):
            for ax, shown, (frame, title, y_label) in zip(axes[r], shown_row, panels, strict=True):
                if marker is None:
                    parts = [(shown, ("o", True))]
                else:
                    category = _category_of(shown, marker, categories)
                    parts = [(shown[category == c], style_) for c, style_ in categories.items()]
                for part, (symbol, filled) in parts:
                    values = part[color].to_numpy(dtype=float)
                    colors = np.where(np.isfinite(values)[:, None], cmap(norm(values)), to_rgba(NO_COLOR))
                    if filled:
                        ax.scatter(part[x], part[y], c=colors, marker=symbol)
                    else:
                        ax.scatter(part[x], part[y], facecolors="none", edgecolors=colors, marker=symbol)
                ax.set_title(_title(title, kendall(frame[x], frame[y])[0]))
                ax.set_xlabel(x_label)
                ax.set_ylabel(f"{label}\n{y_label}" if label and ax is axes[r][0] else y_label)
                if log_x if sharex else _use_log_x(shown[x].to_numpy(dtype=float)):
                    ax.set_xscale("log")
        if categories:
            handles = [Line2D([], [], marker=m, linestyle="", color="0.35", markerfacecolor="0.35" if filled else "none", label=str(v))
                       for v, (m, filled) in categories.items()]
            fig.legend(handles=handles, title=marker, loc="outside lower center", ncols=min(len(handles), 8))
        fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=axes.ravel().tolist(), label=color)
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
    return _plot([(None, [(frame, title, y_label)])], x, y, color, marker, x_label, log_color)


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
    return _plot([(None, panels)], x, y, color, marker, x_label, log_color, suptitle, sharex)


def plot_rows(
    rows: Mapping[str, Mapping[str, pd.DataFrame]],
    x: str,
    y: str,
    color: str,
    marker: str | None,
    x_label: str,
    log_color: bool = True,
    suptitle: str | None = None,
) -> Figure:
    """A grid: one row per entry of ``rows`` (its key labels the row, e.g. the sharpness
    variant; empty for none), each a mapping of panels as in :func:`plot_grid`. Rows share
    their x axis; the colour scale and markers are common to all panels."""
    return _plot([(label or None, [(frame, key, key) for key, frame in frames.items()]) for label, frames in rows.items()],
                 x, y, color, marker, x_label, log_color, suptitle)


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


def plot_tau_histograms(
    rows: Mapping[str, Mapping[str, tuple[np.ndarray, float, float]]], k: int, suptitle: str | None = None, bins: int = 30
) -> Figure:
    """Histograms of tau-b over random subsets of ``k`` models: one row per entry of ``rows``
    (its key labels the row, e.g. the sharpness variant), one panel per target, each given as
    ``(taus over the subsets, tau over all models, tau over the first k models)``.

    Each panel marks tau over all models (solid line), over the first k (dashed) and the 5-95%
    range of the subsets (shaded); its title gives the median and that range. Panels of a row
    share their x axis. The layout is frozen as in the error figures (byte-identical files).
    """
    if not rows or not all(rows.values()) or len({len(p) for p in rows.values()}) != 1:
        raise ValueError("nothing to plot, or rows with different numbers of panels")
    n_rows, n_cols = len(rows), len(next(iter(rows.values())))
    with _style():
        width, height = mpl.rcParams["figure.figsize"]
        fig = Figure(figsize=(width * n_cols, height * n_rows), layout="constrained")
        axes = fig.subplots(n_rows, n_cols, sharex="row", squeeze=False)
        for r, (label, panels) in enumerate(rows.items()):
            for ax, (target, (taus, tau_all, tau_first)) in zip(axes[r], panels.items(), strict=True):
                finite = taus[np.isfinite(taus)]
                if finite.size:
                    low, median, high = np.quantile(finite, (0.05, 0.5, 0.95))
                    ax.axvspan(low, high, color="0.85", zorder=0)
                    ax.hist(finite, bins=bins, color="C0", alpha=0.8)
                    title = f"{target}\nmedian {median:.2f}, 5-95%: [{low:.2f}, {high:.2f}]"
                else:
                    title = f"{target}\nno subset has a tau"
                if np.isfinite(tau_all):
                    ax.axvline(tau_all, color="k", linewidth=1.2, label="all models")
                if np.isfinite(tau_first):
                    ax.axvline(tau_first, color="C3", linestyle="--", linewidth=1.2, label=f"first {k}")
                ax.set_title(title)
                ax.set_xlabel(f"τ over {k} models")
                ax.set_ylabel(f"{label}\nsubsets" if label and ax is axes[r][0] else "subsets")
        handles = [Line2D([], [], color="k", label="all models"), Line2D([], [], color="C3", linestyle="--", label=f"first {k}")]
        fig.legend(handles=handles, loc="outside lower center", ncols=2)
        if suptitle:
            fig.suptitle(suptitle)
        fig.draw_without_rendering()
    fig.set_layout_engine("none")
    return fig
