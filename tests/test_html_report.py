"""The HTML report: built from real tables and figures, opened in a real headless Chromium."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers.browser import check_page, screenshot
from helpers.workflow import REPO
from sharpgen import tables
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
         for d in ("average_l2", "worst_linf")]
    )
    return models, metrics, sharp


@pytest.fixture
def report(tmp_path: Path) -> Path:
    models, metrics, sharp = zoo()
    table, gran = correlate("digits", models, metrics, sharp, ["arch"], ["arch", "lr", "augment"], 1.0, ["lr"], resamples=99)
    corr_path, gran_path = tmp_path / "correlation.parquet", tmp_path / "granulated.parquet"
    tables.write(table[tables.CORRELATION.names], corr_path, tables.CORRELATION, "correlation")
    tables.write(gran, gran_path, tables.GRANULATED, "granulated")
    figures = []
    for definition in ("average_l2", "worst_linf"):
        frame = models.merge(sharp[sharp.definition == definition], on="model_id").merge(
            metrics[metrics.split == "test"][["model_id", "error"]], on="model_id")
        fig = plot_grid({"test error": frame}, x="sharpness_loss", y="error", color="lr", marker="augment", x_label="sharpness")
        save_figure(fig, tmp_path / "figures" / f"{definition}.png")
        figures.append(tmp_path / "figures" / f"{definition}.png")
    out = tmp_path / "report" / "digits.html"
    html_report("digits", corr_path, gran_path, figures, [], "lr", "augment", 1.0, out)
    return out


def test_report_is_self_contained_with_captions_counting_models(report: Path) -> None:
    text = report.read_text()
    assert text.count('src="data:image/png;base64,') == 2
    assert "http" not in text.replace("https://", "")  # nothing to fetch
    assert "(16 models with training error &lt;= 1.0)" in text
    assert "all kept models (16 models)" in text and "models with arch=vit (8 models)" in text
    assert "Two-sided permutation p-value" in text
    assert "psi_i per hyperparameter axis" in text
    assert "PGDL score over 16 models" in text


def test_report_renders_in_headless_chromium(report: Path, http_server) -> None:
    http_server.state.root = report.parent
    result = check_page(report.parent, report.name, http_server.base)
    assert result["images"] == 2 and result["loaded"] == 2, result
    # tau (all, arch=resnet, arch=vit), p-values; granulated: test, mixed, gap error, gap loss
    assert result["tables"] == 4 + 4 and result["rendered"] == result["tables"], result
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
