"""The HTML report: built from real tables and figures, opened in a real headless Chromium."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers.browser import check_page, screenshot
from helpers.workflow import REPO
from sharpgen import drift, published, reproduction, tables
from sharpgen.analysis import correlate
from sharpgen.figures import plot_grid, save_figure
from sharpgen.jobs.report import html_report

ARTIFACTS = Path(os.environ.get("SHARPGEN_TEST_ARTIFACTS", REPO / "results" / "test-artifacts"))


def zoo(n: int = 16) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """A factorial zoo (arch x lr x augment), its metrics and two sharpness definitions."""
    rng = np.random.default_rng(0)
    rows = [
        {"setting": "digits", "model_id": f"m{i:02d}", "arch": arch, "lr": lr, "augment": augment}
        for i, (arch, lr, augment) in enumerate(
            (a, lr, g) for a in ("resnet", "vit") for lr in (0.01, 0.03, 0.1, 0.3) for g in (False, True)
        )
    ][:n]
    models = pd.DataFrame(rows)
    metrics = pd.concat(
        [models[["setting", "model_id"]].assign(split=split, loss=rng.uniform(0, 1, len(models)), error=rng.uniform(0, 0.3, len(models)).round(2))
         for split in ("train", "test", "shift:mixed")]
    )
    sharp = pd.concat(
        [models[["model_id"]].assign(definition=d, sharpness_loss=models["lr"] * rng.uniform(0.5, 1.5, len(models)))
         for d in DEFINITIONS]
    )
    return models, metrics, sharp


DEFINITIONS = ("average_l2_adaptive-lognorm_rho0.1_m128_s20", "worst_linf_adaptive-lognorm_rho0.002_m128_it20")
PUBLISHED = f"""setting,definitions,target,subgroup,statistic,relation,value,source,note
digits,{DEFINITIONS[1]},test_error,all,kendall_tau,=,0.35,a test,one exact value
digits,{DEFINITIONS[0]};{DEFINITIONS[1]},mixed_error,arch=vit;arch=resnet,kendall_tau,min,-0.2,a test,as low as over 4 candidates
digits,worst_linf_adaptive_rho0.002_m128_it20,test_error,all,kendall_tau,=,0.1,a test,a definition this study lacks
digits,{DEFINITIONS[0]},gen_gap_error,all,cmi,=,5.0,a test,a published PGDL score
digits,external:someone_elses,gen_gap_error,all,cmi,=,3.0,a test,a measure sharpgen does not compute
"""


@pytest.fixture
def report(tmp_path: Path) -> Path:
    models, metrics, sharp = zoo()
    table, gran = correlate("digits", models, metrics, sharp, ["arch"], ["arch", "lr", "augment"], 1.0, ["lr"], resamples=99)
    (tmp_path / "published.csv").write_text(PUBLISHED)
    paper = published.read(tmp_path / "published.csv")
    table = reproduction.annotate(table, paper)
    corr_path, gran_path = tmp_path / "correlation.parquet", tmp_path / "granulated.parquet"
    repro_path, drift_path = tmp_path / "reproduction.parquet", tmp_path / "drift.parquet"
    tables.write(table[tables.CORRELATION.names], corr_path, tables.CORRELATION, "correlation")
    tables.write(gran, gran_path, tables.GRANULATED, "granulated")
    tables.write(reproduction.compare(table, paper, gran), repro_path, tables.REPRODUCTION, "reproduction")
    published_metrics = metrics.assign(error=metrics["error"] + np.where(metrics["model_id"] == "m03", 0.01, 0.001))
    tables.write(drift.drift(metrics, published_metrics, 0.5), drift_path, tables.DRIFT, "drift")
    figures = []
    for definition in DEFINITIONS:
        frame = models.merge(sharp[sharp.definition == definition], on="model_id").merge(
            metrics[metrics.split == "test"][["model_id", "error"]], on="model_id")
        fig = plot_grid({"test error": frame}, x="sharpness_loss", y="error", color="lr", marker="augment", x_label="sharpness")
        save_figure(fig, tmp_path / "figures" / f"{definition}.png")
        figures.append(tmp_path / "figures" / f"{definition}.png")
    out = tmp_path / "report" / "digits.html"
    html_report("digits", corr_path, gran_path, figures, [], "lr", "augment", 1.0, out, reproduction=repro_path, drift=drift_path)
    return out


def test_report_is_self_contained_with_captions_counting_models(report: Path) -> None:
    text = report.read_text()
    assert text.count('src="data:image/png;base64,') == 2
    assert "http" not in text.replace("https://", "")  # nothing to fetch
    assert "(16 models with training error &lt;= 1.0)" in text
    assert "all kept models (16 models)" in text and "models with arch=vit (8 models)" in text
    assert "Two-sided permutation p-value" in text
    assert "psi_i per hyperparameter axis" in text
    order = ["Reproduction", "Accuracy drift", "Kendall tau at a glance", "<h2>Figures", "<h2>Full tables"]
    assert [text.index(h) for h in order] == sorted(text.index(h) for h in order)
    assert "not computed in this study" in text and "= 0.35" in text and "as low as -0.20" in text
    gran = tables.read(report.parent.parent / "granulated.parquet", tables.GRANULATED)
    ours = gran.set_index(["definition", "target", "axis"]).loc[(DEFINITIONS[0], "gen_gap_error", "Psi"), "cmi"]
    assert "PGDL scores published for digits" in text and f"{ours:.3f} (16 models)" in text and f"{ours - 5.0:+.3f}" in text
    assert "no row of ours (not a sharpgen measure)" in text and "in 0 of 1 scores we computed; 1 have no row of ours" in text
    assert "1 of 16 models have an evaluated accuracy more than 0.5 points away" in text and "m03" in text


def test_the_heatmap_marks_what_is_not_significant(report: Path) -> None:
    """Each heatmap cell is one tau row: faded when its permutation p >= 0.05 or its interval holds 0."""
    import re

    from sharpgen.htmlreport import _significant

    corr = tables.read(report.parent.parent / "correlation.parquet", tables.CORRELATION)
    text = report.read_text()
    cells = re.findall(r'<td class="([^"]*)" style="[^"]*" title="([^"]*)">', text)
    assert len(cells) == len(corr)
    significant = [_significant(r) for _, r in corr.iterrows()]
    assert sum("ns" in c for c, _ in cells) == significant.count(False) > 0 and significant.count(True) > 0
    assert sum("paper" in c for c, _ in cells) == corr["paper_value"].notna().sum() == 5
    assert "PGDL score over 16 models" in text


def test_report_renders_in_headless_chromium(report: Path, http_server) -> None:
    http_server.state.root = report.parent
    result = check_page(report.parent, report.name, http_server.base)
    assert result["images"] == 2 and result["loaded"] == 2, result
    # reproduction (taus, PGDL scores), drift; heatmaps (all, arch=resnet, arch=vit); the PGDL score; tau
    # (all, arch=resnet, arch=vit), p-values; granulated: test, mixed, gap error, gap loss
    assert result["tables"] == 2 + 1 + 3 + 1 + 4 + 4 and result["rendered"] == result["tables"], result
    assert result["collapsed"] == result["details"] == 4, result  # reading notes, drift table, tau, granulated
    assert result["heatmap_cells"] == 3 * 2 * 5 and 0 < result["not_significant"] < result["heatmap_cells"], result
    assert result["captions"] == result["tables"] + result["images"]
    shot = screenshot(http_server.url(report.name), ARTIFACTS / "html-report-unit.png")
    print(f"screenshot: {shot}")


def test_the_browser_check_sees_a_broken_image(tmp_path: Path, http_server) -> None:
    page = tmp_path / "www" / "broken.html"
    page.write_text('<html><body><figure><img alt="gone" src="missing.png"><figcaption>x</figcaption></figure>'
                    "<table><caption>c</caption><tr><td>1</td></tr><tr><td>2</td></tr></table></body></html>")
    result = check_page(page.parent, page.name, http_server.base)
    assert result["images"] == 1 and result["loaded"] == 0 and result["broken"] == ["gone"]
    assert result["rendered"] == 1
