"""Rule of workflow/rules/report.smk: a Markdown report of one setting's tables and figures."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from sharpgen.atomic import atomic_path


def report(setting: str, tables_md: Sequence[Path], figures: Sequence[Path], out: Path, sections: Sequence[Path] = ()) -> None:
    """The sections (Reproduction, drift, ...) in order, the tau tables, then every figure,
    linked relative to the report."""
    parts = [f"# sharpgen report: {setting}\n"]
    parts += [Path(md).read_text() for md in [*sections, *tables_md]]
    parts.append("\n## Figures\n")
    parts += [f"![{Path(fig).stem}]({os.path.relpath(fig, Path(out).parent)})\n" for fig in figures]
    with atomic_path(out) as tmp:
        tmp.write_text("\n".join(parts))


def html_report(
    setting: str, correlation: Path, granulated: Path, figures: Sequence[Path], captures: Sequence[Path],
    color: str, marker: str | None, max_train_error: float, out: Path, curvature: Sequence[Path] = (),
    reproduction: Path | None = None, drift: Path | None = None, drift_threshold: float = 0.5,
    radius_check: Path | None = None, subsets: Sequence[Path] = (), subsets_figures: Sequence[Path] = (),
    task_average: Path | None = None,
) -> None:
    """One self-contained HTML page: the paper's values beside ours, the accuracy drift, a tau
    heatmap per subgroup, the PGDL score (and its average over tasks, when given), every figure,
    the radius check and tau over random subsets of models (when given), then every table
    (Parquet) collapsed, captioned."""
    from sharpgen import radius, tables
    from sharpgen import subsets as subsets_
    from sharpgen.htmlreport import Figure, Report, figure_html, page

    corr = tables.read(correlation, tables.CORRELATION)
    gran = tables.read(granulated, tables.GRANULATED)
    all_models = corr[corr["subgroup"] == "all"]
    shown = []
    for path in figures:
        definition = Path(path).stem
        rows = all_models[all_models["definition"] == definition]
        n = _models_counted(rows)
        shown.append(Figure(Path(path), (
            f"Errors (one panel per target) against sharpness {definition}, one point per model ({n} models with "
            f"training error <= {max_train_error}); colour: {color}" + (f", marker: {marker}" if marker else "")
            + "; each panel's title gives Kendall's tau-b."
        )))
    for path in captures:
        hyperparameter = Path(path).stem
        rows = all_models[all_models["target"] == hyperparameter]
        n = _models_counted(rows)
        shown.append(Figure(Path(path), (
            f"What sharpness captures: each definition (one panel each) against the {hyperparameter}, one point per "
            f"model ({n} models), coloured by test error; titles give tau-b between {hyperparameter} and sharpness."
        )))
    for path in curvature:
        shown.append(Figure(Path(path), (
            "Curvature: average-case adaptive l2 sharpness / rho^2 at shrinking radii, divided by half the adaptive "
            "Hessian trace (Hutchinson), one panel per model (the first models of the sheet); 1 is the rho -> 0 limit."
        )))
    intro = (
        f"Setting {setting}: Kendall rank correlation between each sharpness definition (and measure) and the "
        f"generalization targets, over the models with training error <= {max_train_error}: the paper's values "
        "beside ours, a heatmap per subgroup, every figure, then the full tables."
    )
    checks = []
    if radius_check is not None:
        checks.append(radius.html_section(tables.read(radius_check, tables.RADIUS_CHECK), setting))
    for path in subsets:
        histograms = [figure_html(Figure(Path(f), (
            f"Kendall's tau-b over random subsets of models for {Path(f).stem} (its logit-normalised twin, when measured, "
            "as the top row), one panel per target: solid line all models, dashed the first k by model id, shaded "
            "the 5-95% range of the subsets."))) for f in subsets_figures]
        checks.append(subsets_.html_section(tables.read(path, tables.SUBSETS), setting, histograms))
    content = Report(
        setting, intro, corr, gran, shown,
        reproduction=tables.read(reproduction, tables.REPRODUCTION) if reproduction else None,
        drift=tables.read(drift, tables.DRIFT) if drift else None,
        drift_threshold=drift_threshold,
        checks=checks,
        task_average=tables.read(task_average, tables.TASK_AVERAGE) if task_average else None,
    )
    with atomic_path(out) as tmp:
        tmp.write_text(page(content))


def _models_counted(rows) -> int:
    """The number of models behind some tau rows (0 when there are none)."""
    return int(rows["n_models"].max()) if len(rows) else 0
