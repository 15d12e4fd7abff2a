"""Rule plot_curvature: average-case adaptive sharpness / rho^2 approaching tr(C H C) / 2 on zoo models.

For a few models of a setting, average-case l2 adaptive sharpness (no logit normalisation,
antithetic noise so that odd-order terms cancel) at shrinking radii, divided by rho^2, against the
Hutchinson estimate of half the adaptive Hessian trace (sharpgen.measures): the rho -> 0 limit of
docs/theory.md on real networks.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from sharpgen import datasets
from sharpgen.loading import load_checked
from sharpgen.log import log


def plot_curvature(
    setting: str, models: Sequence[tuple[str, Path, str]], subset: Path, rhos: Sequence[float], n: int, n_samples: int,
    probes: int, threads: int, outs: Sequence[Path],
) -> None:
    from sharpgen.device import job_device
    from sharpgen.figures import plot_grid, save_figure
    from sharpgen.measures import Measure, compute_measure
    from sharpgen.sharpness import Definition, compute_sharpness, split_batches

    device = job_device(threads)
    x, y = datasets.load(subset)["sharpness"]
    x, y = x[:n], y[:n]
    frames = {}
    for model_id, path, arch in models:
        model = load_checked(setting, model_id, path, arch, device)
        half_trace = compute_measure(Measure("hessian_trace", adaptive=True, samples=probes, n=n), model, (x, y), None) / 2
        rows = []
        for rho in rhos:
            definition = Definition("average", "l2", rho=rho, adaptive=True, logit_norm=False, m=n, n_samples=n_samples, antithetic=True)
            value = compute_sharpness(model, split_batches(x, y, n), definition, device=device).sharpness_loss / rho**2
            rows.append({"rho": rho, "ratio": value / half_trace})
            log(f"{model_id}: rho {rho:g}: S_avg / rho^2 = {value:.5g}, tr(C H C) / 2 = {half_trace:.5g}")
        frames[model_id] = pd.DataFrame(rows)
    fig = plot_grid(frames, x="rho", y="ratio", color="rho", marker=None, x_label="rho", y_label="S_avg / rho^2 / (tr(C H C) / 2)",
                    suptitle=f"{setting}: average-case adaptive sharpness / rho^2 against half the adaptive Hessian trace (1 = the limit)")
    for out in outs:
        save_figure(fig, Path(out))
