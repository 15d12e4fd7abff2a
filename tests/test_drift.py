"""Evaluated vs published accuracies (sharpgen.drift) on the real published table of model soups."""

from __future__ import annotations

import pandas as pd
import pytest

from sharpgen import drift, settings
from sharpgen.settings.soups import manifest


def _published() -> pd.DataFrame:
    """The METRICS rows of model soups' own individual_model_results.jsonl (shipped)."""
    soups = settings.get("soups")
    return soups.published_metrics(manifest(), {})


def test_a_model_off_by_more_than_the_threshold_is_named_and_no_other() -> None:
    published = _published()
    assert len(published) == 72 * 6
    evaluated = published.copy()
    shift = (evaluated["model_id"] == "model_7") & (evaluated["split"] == "shift:imagenet_a")
    evaluated.loc[shift, "error"] += 0.008  # 0.8 points worse on ImageNet-A
    evaluated.loc[evaluated["model_id"] == "model_9", "error"] -= 0.004  # 0.4 points better everywhere: within 0.5
    table = drift.drift(evaluated, published, 0.5)
    assert len(table) == len(published) and drift.drifted_models(table) == ["model_7"]
    row = table[table["drifted"]].iloc[0]
    assert row["split"] == "shift:imagenet_a" and row["difference_points"] == pytest.approx(-0.8)
    assert row["published_accuracy"] == pytest.approx(1 - published.loc[shift, "error"].iloc[0])
    message = drift.warning(table, 0.5)
    assert message.startswith("1 of 72 models") and "model_7 on shift:imagenet_a, -0.80 points" in message
    assert table.loc[table["model_id"] == "model_9", "difference_points"].abs().max() == pytest.approx(0.4)
    assert drift.warning(drift.drift(published, published, 0.5), 0.5) is None


def test_only_splits_present_in_both_tables_are_compared() -> None:
    published = _published()
    evaluated = published[published["split"] == "test"].assign(error=lambda f: f["error"] + 0.02)
    table = drift.drift(pd.concat([evaluated, evaluated.assign(split="train")]), published, 0.5)
    assert set(table["split"]) == {"test"} and table["drifted"].all() and len(table) == 72
    text = drift.markdown("soups", table, 0.5)
    assert "**Warning:** 72 of 72 models" in text and text.count("| yes |") == 72


def test_drift_is_planned_where_a_setting_evaluates_and_its_collection_publishes() -> None:
    soups, augreg, digits, cifar = (settings.get(n) for n in ("soups", "augreg", "digits", "cifar"))
    assert soups.has_published_metrics({}, manifest())  # accuracies in the sheet
    assert augreg.has_published_metrics({}, augreg.sheet({}))  # index.csv, downloaded
    assert not digits.has_published_metrics({}, pd.DataFrame({"model_id": ["a"]}))  # evaluates only
    assert not cifar.has_published_metrics({}, pd.DataFrame({"model_id": ["a"], "test_acc": [float("nan")]}))
