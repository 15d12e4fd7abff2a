"""Rule of workflow/rules/theory.smk: the diagonal-linear-network grid and its figure."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa

from sharpgen.atomic import atomic_path
from sharpgen.log import log

DLN = pa.schema(
    [pa.field(name, pa.float64()) for name in ("lr", "alpha", "train_loss", "test_loss", "l1", "linf", "avg_limit", "max_limit")]
)


def dln(lrs: Sequence[float], scales: Sequence[float], steps: int, seed: int, out_table: Path, outs: Sequence[Path]) -> None:
    """Train the grid (learning rate x initialisation scale) on the bundled synthetic problem; write
    one row per network and test loss against each sharpness limit and each norm."""
    from sharpgen.figures import plot_grid, save_figure
    from sharpgen.theory import Problem, train_grid

    frame = train_grid(Problem(n=25, d=50, k=3, seed=seed), list(lrs), list(scales), steps)
    import pyarrow.parquet as pq

    with atomic_path(out_table) as tmp:
        pq.write_table(pa.Table.from_pandas(frame[DLN.names], schema=DLN, preserve_index=False), tmp)
    kept = frame.dropna()
    log(f"{len(frame)} networks, {len(kept)} converged (train loss < 1e-2) -> {out_table}")
    panels = {
        "avg-case S / rho^2 (rho -> 0)": "avg_limit", "worst-case S / rho^2 (rho -> 0)": "max_limit",
        "||beta||_1": "l1", "||beta||_inf": "linf",
    }
    frames = {title: kept.assign(x=kept[column], lr=kept["lr"].astype(str)) for title, column in panels.items()}
    fig = plot_grid(frames, x="x", y="test_loss", color="alpha", marker="lr", x_label="value", y_label="test loss",
                    suptitle="Diagonal linear networks: test loss against sharpness (slides' c) and norms", sharex=False)
    for out in outs:
        save_figure(fig, Path(out))


SCALE = pa.schema(
    [pa.field("alpha", pa.float64()), pa.field("variant", pa.string()), pa.field("sharpness", pa.float64()),
     pa.field("clean_loss", pa.float64()), pa.field("clean_error", pa.float64())]
)


def classifier_scale(alphas: Sequence[float], rho: float, n_samples: int, seed: int, out_table: Path, outs: Sequence[Path]) -> None:
    """Sharpness of one logistic-regression classifier with its weights scaled by alpha: a table and
    one panel per variant (standard / adaptive, with / without logit normalisation)."""
    import pyarrow.parquet as pq

    from sharpgen.figures import plot_grid, save_figure
    from sharpgen.theory import VARIANTS
    from sharpgen.theory import classifier_scale as compute

    frame = compute(list(alphas), rho, n_samples, seed)
    with atomic_path(out_table) as tmp:
        pq.write_table(pa.Table.from_pandas(frame[SCALE.names], schema=SCALE, preserve_index=False), tmp)
    log(f"{len(alphas)} scales x {len(VARIANTS)} variants -> {out_table}")
    frames = {variant: frame[frame["variant"] == variant] for variant in VARIANTS}
    fig = plot_grid(frames, x="alpha", y="sharpness", color="alpha", marker=None, x_label="alpha (weights and bias scaled)",
                    y_label=f"average-case l2 sharpness, rho = {rho:g}", suptitle="One linear classifier, its logits scaled by alpha")
    for out in outs:
        save_figure(fig, Path(out))


LINEAR = pa.schema(
    [pa.field("scaling", pa.string()), pa.field("logit_norm", pa.bool_()), pa.field("rho", pa.float64()),
     pa.field("alpha", pa.float64()), pa.field("sharpness", pa.float64()), pa.field("clean_loss", pa.float64()),
     pa.field("test_error", pa.float64())]
)


def linear_model(seed: int, out_table: Path, outs: Sequence[Path]) -> None:
    """The authors' notebook example: closed-form worst-case sharpness (m = 1) of one binary
    logistic regression against the scale of its weights, per radius, scaling and logit
    normalisation: a table and the figure."""
    import pyarrow.parquet as pq

    from sharpgen.figures import save_figure
    from sharpgen.logistic_scale import SCALINGS, fit, flip_radius, sweep
    from sharpgen.theory_plots import plot_scale_sweep

    frame = sweep(seed)
    with atomic_path(out_table) as tmp:
        pq.write_table(pa.Table.from_pandas(frame[LINEAR.names], schema=LINEAR, preserve_index=False), tmp)
    raw = frame[(frame["scaling"] == "elementwise") & ~frame["logit_norm"]]
    for rho, rows in raw.groupby("rho"):
        peak = rows.loc[rows["sharpness"].idxmax()]
        log(f"rho = {rho:g} (c = |w|, raw logit): peak sharpness {peak['sharpness']:.4g} at alpha = {peak['alpha']:.4g}")
    w, x, y, _, _ = fit(seed)
    for kind in SCALINGS:
        log(f"c = {kind}: logit-normalised sharpness is 0 for rho < {flip_radius(w, x, y, kind):.4g} (no margin can flip)")
    log(f"{len(frame)} rows -> {out_table}")
    fig = plot_scale_sweep(frame)
    for out in outs:
        save_figure(fig, Path(out))


POPULATION = pa.schema(
    [pa.field("lr", pa.float64()), pa.field("alpha", pa.float64()), pa.field("seed", pa.int64()), pa.field("steps", pa.int64()),
     *(pa.field(name, pa.float64()) for name in ("train_loss", "test_loss", "distance", "avg_sharpness", "max_sharpness", "l1_limit", "linf_limit"))]
)
POPULATION_TAU = pa.schema([pa.field("quantity", pa.string()), pa.field("tau_b", pa.float64()), pa.field("networks", pa.int64())])


def dln_population(lrs: Sequence[float], alphas: Sequence[float], seeds: Sequence[int], rho_avg: float, rho_max: float,
                   n_samples: int, seed: int, out_table: Path, out_tau: Path, outs: Sequence[Path]) -> None:
    """Train the population of diagonal linear networks, measure each (engine sharpness and closed
    forms), write one row per network, Kendall's tau-b of each quantity against the test loss, and
    the figure: test loss against each quantity, coloured by the initialisation scale."""
    import time

    import pandas as pd
    import pyarrow.parquet as pq

    from sharpgen.dln_population import QUANTITIES, Population, kendall_taus, study
    from sharpgen.figures import plot_grid, save_figure

    start = time.perf_counter()
    population = Population(lrs=tuple(lrs), alphas=tuple(alphas), seeds=tuple(seeds), data_seed=seed)
    frame = study(population, rho_avg, rho_max, n_samples, seed)
    with atomic_path(out_table) as tmp:
        pq.write_table(pa.Table.from_pandas(frame[POPULATION.names], schema=POPULATION, preserve_index=False), tmp)
    taus = kendall_taus(frame)
    tau_frame = pd.DataFrame({"quantity": list(taus), "tau_b": list(taus.values()),
                              "networks": [int(frame[q].notna().sum()) for q in taus]})
    with atomic_path(out_tau) as tmp:
        pq.write_table(pa.Table.from_pandas(tau_frame, schema=POPULATION_TAU, preserve_index=False), tmp)
    for quantity, tau in taus.items():
        log(f"tau_b({quantity}, test loss) = {tau:.3f}")
    log(f"{len(frame)} networks ({frame['avg_sharpness'].notna().sum()} converged to train loss <= "
        f"{population.target_loss:g}) in {time.perf_counter() - start:.1f} s -> {out_table}")
    kept = frame.dropna(subset=list(QUANTITIES))
    titles = {key: label.format(rho_avg=rho_avg, rho_max=rho_max) for key, label in QUANTITIES.items()}
    frames = {titles[q]: kept.assign(x=kept[q], lr=kept["lr"].astype(str)) for q in QUANTITIES}
    fig = plot_grid(frames, x="x", y="test_loss", color="alpha", marker="lr", x_label="value (sharpness / rho^2)",
                    y_label="test loss", suptitle="Diagonal linear networks on 90%-sparse regression: test loss against sharpness",
                    sharex=False)
    for out in outs:
        save_figure(fig, Path(out))
