"""The paper's published values as data: the shipped table read back against its sources, its
validation, and its join onto a real tau table (sharpgen.reproduction)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from helpers.workflow import REPO
from sharpgen import published, reproduction, settings
from sharpgen.analysis import correlate
from sharpgen.sharpness.definition import Definition

SHIPPED = REPO / "src" / "sharpgen" / "settings" / "data" / "published_values.csv"
WORST_LINF = "worst_linf_{variant}_rho{rho}_m128_it20"

# Transcribed from the sources independently of the CSV: (setting, target, value, relation,
# variants that may be meant, radius). Slides: ../shared/seed/paper-slides.md; summary: the
# authors' repository, images/summary_slide.png.
SOURCES = [
    ("augreg", "test_error", -0.42, "=", {"adaptive"}, "0.002"),  # slides, Figure 2, without logit normalisation
    ("augreg", "test_error", 0.08, "=", {"adaptive", "adaptive-lognorm"}, "0.002"),  # summary figure
    ("soups", "test_error", 0.04, "=", {"adaptive", "adaptive-lognorm"}, "0.002"),  # summary figure
    ("soups", "imagenet_r_error", -0.51, "min", {"adaptive", "adaptive-lognorm"}, "0.002"),  # slides, Figure 3
    ("soups", "imagenet_a_error", -0.58, "min", {"adaptive", "adaptive-lognorm"}, "0.002"),  # slides, Figure 3
    ("bert", "hans_lexical_nonentailed_error", -0.09, "=", {"adaptive", "adaptive-lognorm"}, "0.0005"),  # summary figure
]


def test_the_shipped_table_holds_every_published_tau_of_the_sources() -> None:
    table = published.read(SHIPPED)
    assert len(table) == len(SOURCES) + 1 and set(table["statistic"]) == {"kendall_tau"}
    for setting, target, value, relation, variants, rho in SOURCES:
        row = table[(table["setting"] == setting) & (table["target"] == target) & (table["value"] == value)]
        assert len(row) == 1, (setting, target, value)
        row = row.iloc[0]
        assert row["relation"] == relation and row["subgroup"] == "all"
        assert set(published.candidates(row["definitions"])) == {WORST_LINF.format(variant=v, rho=rho) for v in variants}
    cifar = table[table["setting"] == "cifar"].iloc[0]  # slides, Setting #4: "as much as -0.68", models <= 1% train error
    assert (cifar["value"], cifar["relation"], cifar["target"]) == (-0.68, "min", "test_error")
    assert published.candidates(cifar["subgroup"]) == ["family=resnet18", "family=vit_exp"]
    defs = [Definition.from_id(d) for d in published.candidates(cifar["definitions"])]
    assert all((d.algorithm, d.norm, d.adaptive, d.m, d.n_iters) == ("worst", "linf", True, 128, 20) for d in defs)
    assert {d.rho for d in defs} == {0.0005, 0.001, 0.002, 0.004, 0.008} and {d.logit_norm for d in defs} == {True, False}
    assert all(row["source"] and row["note"] for _, row in table.iterrows())


def test_the_shipped_table_names_what_the_paper_config_computes() -> None:
    """Every target is a figure target of config/paper.yaml, every definition of the
    worst-case rows is in the setting's paper grid, and each setting finds its own rows."""
    from sharpgen import plan
    from sharpgen.config import resolve

    config = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    blocks = resolve({**config, "settings": ["augreg", "soups", "bert", "cifar"]}, REPO / "workflow" / "schemas" / "setting.schema.yaml")
    table = published.read(SHIPPED)
    for setting, block in blocks.items():
        path = settings.get(setting).published_values_path(block)
        assert path == SHIPPED
        rows = published.for_setting(published.read(path), setting)
        assert len(rows) >= 1
        grid = {d.id for d in plan.setting_definitions(setting, block, "paper")}
        default = {d.id for d in plan.setting_definitions(setting, block, "default")}
        for _, row in rows.iterrows():
            assert set(published.candidates(row["target"])) <= set(block["figures"]["targets"])
            ids = set(published.candidates(row["definitions"]))
            assert ids <= grid, ids - grid
            assert ids & default  # the default grid compares at least one candidate
    assert set(table["setting"]) == {"augreg", "soups", "bert", "cifar"}
    assert settings.get("digits").published_values_path({}) is None


def test_definition_ids_read_back_exactly() -> None:
    for d in (Definition("worst", "linf", 0.002, logit_norm=False), Definition("average", "l2", 0.1, m=32, n_samples=2, antithetic=True, seed=3),
              Definition("worst", "l2", 1e-05, init="random", restarts=2, momentum="autoattack", reset="clean")):
        assert Definition.from_id(d.id) == d
    for bad, says in (("worst_linf_adaptive_rho0.0020_m128_it20", "canonical form"), ("worst_linf_adaptive_rho0.002_m128_it20_x", "unknown part 'x'"),
                      ("worst_linf_adaptive", "expected <algorithm>")):
        with pytest.raises(ValueError, match=says):
            Definition.from_id(bad)


HEADER = ",".join(published.COLUMNS)
GOOD = "augreg,worst_linf_adaptive_rho0.002_m128_it20,test_error,all,kendall_tau,=,-0.42,slides,fig 2"


@pytest.mark.parametrize(("line", "says"), [
    ("augreg,worst_linf_adaptive_rho0.002_m128,test_error,all,kendall_tau,=,-0.42,slides,x", "line 2: 'worst_linf_adaptive_rho0.002_m128' is not a sharpness definition id"),
    ("augreg,worst_linf_adaptive_rho0.002_m128_it20,test_error,all,kendall_tau,~,-0.42,slides,x", "relation '~'"),
    ("augreg,worst_linf_adaptive_rho0.002_m128_it20,test_error,all,kendall_tau,=,-1.42,slides,x", "outside [-1.0, 1.0]"),
    ("augreg,worst_linf_adaptive_rho0.002_m128_it20,test_error,all,kendall_tau,=,minus,slides,x", "'minus' is not a number"),
    ("augreg,worst_linf_adaptive_rho0.002_m128_it20,test_error,aug none,kendall_tau,=,0.1,slides,x", "subgroup 'aug none'"),
    ("augreg,worst_linf_adaptive_rho0.002_m128_it20,test_error,all,spearman,=,0.1,slides,x", "statistic 'spearman'"),
    ("augreg,worst_linf_adaptive_rho0.002_m128_it20,test_error,all,kendall_tau,=,0.1,,x", "column 'source' is empty"),
    ("augreg,worst_linf_adaptive_rho0.002_m128_it20,test_error,all,kendall_tau,=,0.1,slides, as low as, -0.5", "line 2: 10 fields"),
    (GOOD.replace("-0.42", "0.3"), "lines [2, 3] publish the same"),
])
def test_a_bad_published_table_is_an_error_naming_the_line(tmp_path: Path, line: str, says: str) -> None:
    path = tmp_path / "published.csv"
    path.write_text(f"{HEADER}\n{line}\n" + (f"{GOOD}\n" if "publish the same" in says else ""))
    with pytest.raises(ValueError, match="published values") as error:
        published.read(path)
    assert says in str(error.value) and str(path) in str(error.value)


def test_a_wrong_header_names_the_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "published.csv"
    path.write_text(HEADER.replace(",note", "") + "\n")
    with pytest.raises(ValueError, match=r"missing \['note'\]"):
        published.read(path)


def _tau_table() -> pd.DataFrame:
    """A real tau table (sharpgen.analysis.correlate) of 12 models, two definitions, three targets."""
    rng = np.random.default_rng(1)
    ids = [f"m{i:02d}" for i in range(12)]
    models = pd.DataFrame({"setting": "soups", "model_id": ids, "randaug": ["a", "b"] * 6})
    metrics = pd.concat([pd.DataFrame({"setting": "soups", "model_id": ids, "split": split, "loss": np.nan, "error": rng.uniform(0.1, 0.5, 12)})
                         for split in ("test", "shift:imagenet_r", "shift:imagenet_a")])
    definitions = [WORST_LINF.format(variant=v, rho="0.002") for v in ("adaptive", "adaptive-lognorm")]
    sharp = pd.concat([pd.DataFrame({"model_id": ids, "definition": d, "sharpness_loss": rng.uniform(0, 1, 12)}) for d in definitions])
    table, _ = correlate("soups", models, metrics, sharp, ["randaug"], [], 1.0, resamples=199)
    return table


def test_the_shipped_values_join_onto_a_real_tau_table() -> None:
    tau = _tau_table()
    paper = published.for_setting(published.read(SHIPPED), "soups")
    rows = reproduction.compare(tau, paper)
    assert sorted(set(rows["value_id"])) == [1, 2, 3]
    indexed = tau.set_index(["definition", "target", "subgroup"])
    for _, row in rows[rows["compared"] == "candidate"].iterrows():
        r = indexed.loc[(row["definition"], row["target"], row["subgroup"])]
        assert row["ours"] == r["tau_b"] and (row["ci_low"], row["ci_high"]) == (r["ci_low"], r["ci_high"]) and row["n_models"] == 12
        if row["relation"] == "=":
            assert bool(row["inside"]) == (r["ci_low"] - 0.005 <= row["paper_value"] <= r["ci_high"] + 0.005)
        else:  # candidates of "as low as": only their minimum is the published value
            assert pd.isna(row["inside"])
    for value_id, target in ((2, "imagenet_r_error"), (3, "imagenet_a_error")):
        group = rows[rows["value_id"] == value_id]
        minimum = group[group["compared"] == "minimum"].iloc[0]
        assert minimum["ours"] == min(indexed.loc[(d, target, "all"), "tau_b"] for d in group["definition"].iloc[:2])
        assert minimum["target"] == target and minimum["paper_value"] in (-0.51, -0.58)
        r = indexed.loc[(minimum["definition"], target, "all")]
        assert bool(minimum["inside"]) == (r["ci_low"] - 0.005 <= minimum["paper_value"] <= r["ci_high"] + 0.005)
    annotated = reproduction.annotate(tau, paper)
    test_rows = annotated[(annotated["target"] == "test_error") & (annotated["subgroup"] == "all")]
    assert (test_rows["paper_value"] == 0.04).all() and (test_rows["paper_match"] == "candidate of 2").all()
    assert annotated.loc[annotated["target"] == "imagenet_a_error", "paper_match"].dropna().eq("minimum over 2").all()
    assert annotated[annotated["subgroup"] != "all"]["paper_value"].isna().all()


def test_an_exact_value_takes_precedence_over_a_candidate_and_a_missing_one_is_said() -> None:
    tau = _tau_table().assign(setting="augreg")
    paper = published.for_setting(published.read(SHIPPED), "augreg")
    annotated = reproduction.annotate(tau, paper).set_index(["definition", "target", "subgroup"])
    adaptive, lognorm = (WORST_LINF.format(variant=v, rho="0.002") for v in ("adaptive", "adaptive-lognorm"))
    assert annotated.loc[(adaptive, "test_error", "all"), ["paper_value", "paper_match"]].tolist() == [-0.42, "exact"]
    assert annotated.loc[(lognorm, "test_error", "all"), ["paper_value", "paper_match"]].tolist() == [0.08, "candidate of 2"]
    rows = reproduction.compare(tau[tau["definition"] == lognorm], paper)
    missing = rows[rows["definition"] == adaptive]
    assert (missing["n_models"] == 0).all() and missing["inside"].isna().all()
    text = reproduction.markdown("augreg", rows, "published_values.csv")
    assert "not computed in this study" in text and "| 1 | = -.42 |" not in text and "| 1 | = -0.42 |" in text
    assert "No published value for setting digits" in reproduction.markdown("digits", reproduction.compare(tau, paper.iloc[:0]), None)


def test_the_interval_check_allows_for_the_papers_rounding() -> None:
    assert reproduction.inside(-0.42, -0.4151, -0.20) and not reproduction.inside(-0.42, -0.414, -0.20)
    assert reproduction.inside(0.08, math.nan, 0.1) is None


PGDL = REPO / "src" / "sharpgen" / "settings" / "data" / "published_pgdl.csv"


def test_published_pgdl_scores_are_compared_with_our_psi_row_cmi_by_hand() -> None:
    """Task 5's published scores (dist_init 1.26, jacobian_norm_n528 7.30, three external
    measures) against hand-made tables: ours is the cmi of the Psi row of gen_gap_error."""
    paper = published.for_setting(published.read(PGDL), "pgdl_task5")
    assert list(paper["definitions"]) == ["dist_init", "jacobian_norm_n528", "external:davies_bouldin_x_label_wise_mixup",
                                          "external:mixup_margin", "external:augment_margin"]
    tau = pd.DataFrame({"definition": ["dist_init", "dist_init", "jacobian_norm_n528"], "target": ["gen_gap_error", "test_error", "gen_gap_error"],
                        "subgroup": "all", "n_models": [48, 48, 47], "tau_b": [0.1, 0.2, 0.3], "ci_low": np.nan, "ci_high": np.nan, "p_perm": np.nan})
    gran = pd.DataFrame({"definition": ["dist_init", "dist_init", "dist_init", "jacobian_norm_n528"],
                         "target": ["gen_gap_error", "gen_gap_error", "test_error", "gen_gap_error"],
                         "axis": ["Psi", "depth", "Psi", "Psi"], "cmi": [1.255, np.nan, 9.0, 7.3051]})
    rows = reproduction.compare(tau, paper, gran).set_index("definition")
    assert len(rows) == 5 and (rows["statistic"] == "cmi").all()
    # |1.255 - 1.26| = 0.005: 1.255 is printed 1.26 (half up) or 1.25 (half even): the rounding allows both
    assert rows.loc["dist_init", ["ours", "n_models"]].tolist() == [1.255, 48] and bool(rows.loc["dist_init", "inside"])
    assert rows.loc["dist_init", "difference"] == pytest.approx(-0.005)
    assert rows.loc["jacobian_norm_n528", "ours"] == 7.3051 and not rows.loc["jacobian_norm_n528", "inside"]  # 7.31 != 7.30
    external = rows.loc[rows.index.str.startswith("external:")]
    assert external["ours"].isna().all() and external["inside"].isna().all() and (external["n_models"] == 0).all()
    assert reproduction.compare(tau, paper).loc[lambda r: r["definition"] == "dist_init", "ours"].isna().all()  # no granulated table
    text = reproduction.markdown("pgdl_task5", reproduction.compare(tau, paper, gran), "published_pgdl.csv")
    assert "| 1 | = 1.26 | dist_init, gen_gap_error | 1.255 (48 models) | -0.005 | yes |" in text
    assert "| 2 | = 7.30 | jacobian_norm_n528, gen_gap_error | 7.305 (47 models) | +0.005 | no |" in text
    assert text.count("no row of ours (not a sharpgen measure)") == 3 and "Kendall tau the paper" not in text
    assert reproduction.matches(7.30, 7.2951) and not reproduction.matches(7.30, 7.2949) and reproduction.matches(7.3, math.nan) is None


def test_an_external_measure_name_is_validated(tmp_path: Path) -> None:
    path = tmp_path / "published.csv"
    path.write_text(f"{HEADER}\npgdl_task1,external:a b,gen_gap_error,all,cmi,=,1.0,kit,x\n")
    with pytest.raises(ValueError, match="line 2: 'external:a b': write external:<name>"):
        published.read(path)
