"""Figures of the theory studies that are curves, not one point per model: sharpness against the
scale of a linear classifier, one line per radius (the authors' notebook figure)."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from sharpgen.figures import _style


def plot_scale_sweep(frame: pd.DataFrame) -> Figure:
    """Panels: scaling c (columns) x logit normalisation (rows); in each, sharpness against alpha
    (log x axis), one line per rho. ``frame``: columns scaling, logit_norm, rho, alpha, sharpness."""
    scalings = list(dict.fromkeys(frame["scaling"]))
    norms = sorted(set(frame["logit_norm"]))
    with _style():
        fig = Figure(figsize=(4.2 * len(scalings), 3.2 * len(norms)), layout="constrained")
        axes = fig.subplots(len(norms), len(scalings), squeeze=False)
        for i, logit_norm in enumerate(norms):
            for j, kind in enumerate(scalings):
                ax = axes[i][j]
                panel = frame[(frame["scaling"] == kind) & (frame["logit_norm"] == logit_norm)]
                for rho, line in panel.groupby("rho", sort=True):
                    line = line.sort_values("alpha")
                    ax.plot(line["alpha"], line["sharpness"], marker="o", markersize=3, label=f"rho = {rho:g}")
                ax.set_xscale("log", base=2)
                ax.set_title(f"c = {'|w|' if kind == 'elementwise' else '||w||_2'}, "
                             f"{'logit-normalised' if logit_norm else 'raw logit'}")
                ax.set_xlabel("weight scale alpha")
                ax.set_ylabel("worst-case sharpness (m = 1)")
                if i == 0 and j == 0:
                    ax.legend()
        fig.suptitle("Binary logistic regression, weights scaled by alpha (closed form)")
    return fig


def plot_ablation(frame: pd.DataFrame, quantity: str, title: str) -> Figure:
    """Panels: one per target; in each, tau_b against the ablated ``quantity`` (log2 axis for m
    and n_iters, categories for data), one line per group. ``frame``: line, value, target, tau_b."""
    targets = list(dict.fromkeys(frame["target"]))
    categorical = quantity == "data"
    with _style():
        fig = Figure(figsize=(4.2 * max(len(targets), 1), 3.4), layout="constrained")
        axes = fig.subplots(1, max(len(targets), 1), squeeze=False)[0]
        for ax, target in zip(axes, targets):
            panel = frame[frame["target"] == target]
            for label, line in panel.groupby("line", sort=False):
                ax.plot(line["value"].astype(str) if categorical else line["value"], line["tau_b"], marker="o", label=label)
            if not categorical:
                ax.set_xscale("log", base=2)
            ax.axhline(0.0, color="grey", linewidth=0.8)
            ax.set_title(target.replace("_", " "))
            ax.set_xlabel(quantity)
            ax.set_ylabel("Kendall's tau-b")
        axes[0].legend(fontsize="small")
        fig.suptitle(title)
    return fig
