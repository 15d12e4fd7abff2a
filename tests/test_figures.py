"""Tests for sharpgen.figures: scatter content, titles, axis scales and reproducible saving."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from scipy import stats

from sharpgen.figures import plot_error_vs_sharpness, plot_grid, save_figure

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def models(n: int = 30, low: float = -3.0, high: float = 1.0, seed: int = 0) -> pd.DataFrame:
    """One row per model: log-uniform sharpness in [10**low, 10**high], discrete error, lr, augment."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "sharpness": 10 ** rng.uniform(low, high, n),
            "test_error": rng.integers(0, 20, n) / 100,
            "lr": 10 ** rng.uniform(-3, -1, n),
            "augment": rng.choice([True, False], n),
        }
    )


def plot(frame: pd.DataFrame, marker: str | None = "augment") -> Figure:
    return plot_error_vs_sharpness(
        frame, "sharpness", "test_error", "lr", marker, "ResNet on CIFAR-10", "sharpness", "test error"
    )


def n_points(ax) -> int:
    return sum(len(c.get_offsets()) for c in ax.collections if isinstance(c, PathCollection))


@pytest.mark.parametrize("marker", ["augment", None])
def test_plot_draws_one_point_per_model(marker):
    frame = models()
    fig = plot(frame, marker)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert n_points(ax) == len(frame)
    expected_groups = 2 if marker else 1
    assert sum(isinstance(c, PathCollection) for c in ax.collections) == expected_groups
    assert len(fig.axes) == 2  # the panel and its colorbar


def test_plot_skips_rows_without_values():
    frame = models()
    frame.loc[[0, 4], "test_error"] = np.nan
    assert n_points(plot(frame).axes[0]) == len(frame) - 2


def test_title_has_tau_b():
    frame = models()
    tau = stats.kendalltau(frame.sharpness, frame.test_error).statistic
    title = plot(frame).axes[0].get_title()
    assert title.startswith("ResNet on CIFAR-10")
    assert f"τ = {tau:.2f}" in title


def test_log_x_axis_only_for_wide_positive_range():
    assert plot(models(low=-3, high=1)).axes[0].get_xscale() == "log"
    assert plot(models(low=0, high=1.5)).axes[0].get_xscale() == "linear"
    negative = models().assign(sharpness=lambda f: f.sharpness - 1)
    assert plot(negative).axes[0].get_xscale() == "linear"


def test_log_color_needs_positive_values():
    with pytest.raises(ValueError):
        plot(models().assign(lr=0.0))
    fig = plot_error_vs_sharpness(
        models().assign(lr=0.0), "sharpness", "test_error", "lr", None, "t", "x", "y", log_color=False
    )
    assert n_points(fig.axes[0]) == 30


def test_plot_grid_panels_have_their_own_tau():
    test = models(seed=1)
    ood = test.assign(test_error=test.test_error[::-1].to_numpy())
    fig = plot_grid({"Test error": test, "OOD error": ood}, "sharpness", "test_error", "lr", "augment", "sharpness")
    panels = [ax for ax in fig.axes if n_points(ax)]
    assert len(panels) == 2
    for ax, frame, name in zip(panels, [test, ood], ["Test error", "OOD error"], strict=True):
        tau = stats.kendalltau(frame.sharpness, frame.test_error).statistic
        assert ax.get_title() == f"{name}\nτ = {tau:.2f}"
        assert ax.get_ylabel() == name
        assert n_points(ax) == len(frame)
    assert panels[0].get_shared_x_axes().joined(panels[0], panels[1])


@pytest.mark.parametrize("suffix", [".png", ".pdf"])
def test_save_figure_is_valid_and_reproducible(tmp_path, suffix):
    first, second, other = tmp_path / f"a{suffix}", tmp_path / f"b{suffix}", tmp_path / f"c{suffix}"
    fig = plot(models())
    save_figure(fig, first)
    save_figure(fig, second)
    save_figure(plot(models()), other)
    data = first.read_bytes()
    assert data.startswith(PNG_MAGIC if suffix == ".png" else b"%PDF-")
    assert data == second.read_bytes() == other.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == [first.name, second.name, other.name]


def test_save_figure_pdf_metadata(tmp_path):
    path = tmp_path / "f.pdf"
    save_figure(plot(models()), path)
    data = path.read_bytes()
    assert b"sharpgen" in data
    assert b"CreationDate" not in data
    assert b"Producer" not in data


def test_save_figure_rejects_unknown_suffix(tmp_path):
    with pytest.raises(ValueError):
        save_figure(plot(models()), tmp_path / "f.jpg")
    assert list(tmp_path.iterdir()) == []


def test_save_figure_leaves_no_partial_file(tmp_path, monkeypatch):
    path = tmp_path / "f.png"
    fig = plot(models())
    save_figure(fig, path)
    before = path.read_bytes()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        save_figure(plot(models(seed=5)), path)
    assert [p.name for p in tmp_path.iterdir()] == ["f.png"]
    assert path.read_bytes() == before


def test_markers_handle_missing_values_and_many_categories():
    """soups: randaug has 29 values and none for model_0 (the linear probe)."""
    frame = models(n=60)
    frame["randaug"] = [f"N{i % 29}" for i in range(60)]
    frame["randaug"] = frame["randaug"].astype(object)
    frame.loc[0, "randaug"] = None
    frame.loc[0, "lr"] = np.nan  # model_0 has no learning rate either: drawn grey
    fig = plot(frame, "randaug")
    ax = fig.axes[0]
    assert n_points(ax) == 60
    grey = [c for c in ax.collections if isinstance(c, PathCollection) and len(c.get_offsets()) == 1
            and np.allclose(c.get_facecolors()[0], to_rgba("0.6"))]
    assert len(grey) == 1
    labels = [t.get_text() for legend in fig.legends for t in legend.get_texts()]
    assert len(labels) == 30 and labels[-1] == "n/a" and len(set(labels)) == 30
    frame["randaug"] = [f"N{i % 45}" for i in range(60)]
    fig = plot(frame, "randaug")
    labels = [t.get_text() for legend in fig.legends for t in legend.get_texts()]
    assert len(labels) == 30 and labels[-1] == "other" and n_points(fig.axes[0]) == 60


def test_rows_of_variants_share_colour_and_markers():
    from sharpgen.figures import plot_rows

    plain, lognorm = models(seed=2), models(seed=3)
    fig = plot_rows({"adaptive": {"Test error": plain, "OOD error": plain},
                     "adaptive-lognorm": {"Test error": lognorm, "OOD error": lognorm}},
                    "sharpness", "test_error", "lr", "augment", "sharpness")
    panels = [ax for ax in fig.axes if n_points(ax)]
    assert len(panels) == 4
    assert panels[0].get_ylabel() == "adaptive\nTest error" and panels[2].get_ylabel() == "adaptive-lognorm\nTest error"
    assert panels[1].get_ylabel() == "OOD error"


def test_log_colour_only_for_positive_values_over_a_decade():
    from sharpgen.figures import use_log_color

    assert use_log_color(np.array([1e-6, 1e-4]))  # soups learning rates
    assert not use_log_color(np.array([0.0, 0.1]))  # augreg stochastic depth
    assert not use_log_color(np.array([0.15, 0.17]))  # bert MNLI error


def test_the_logit_normalised_twin_is_the_top_row_as_the_papers_figures():
    from sharpgen.jobs.figures import twins
    from sharpgen.sharpness import Definition

    rows = []
    for variant, adaptive, lognorm in (("adaptive", True, False), ("adaptive-lognorm", True, True), ("standard", False, False)):
        d = Definition("worst", "linf", rho=0.002, adaptive=adaptive, logit_norm=lognorm)
        rows.append({"definition": d.id, "variant": variant, **d.as_dict()})
    sharp = pd.DataFrame(rows)
    plain, lognorm, standard = sharp["definition"]
    assert twins(sharp, plain) == [lognorm, plain] and twins(sharp, lognorm) == [lognorm, plain]
    assert twins(sharp, standard) == [standard]
