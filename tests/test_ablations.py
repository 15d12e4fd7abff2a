"""Appendix H ablations: the data sharpness is computed on and the APGD iterations as grid options."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from sharpgen import datasets, plan, tables
from sharpgen.jobs.data import prepare_subset
from sharpgen.jobs.figures import plot_ablation
from sharpgen.jobs.sharpness import batches_for, sharpness_data
from sharpgen.sharpness import Definition


def test_default_data_keeps_existing_ids_and_other_data_is_in_the_id():
    assert Definition("worst", "linf", rho=0.002).id == "worst_linf_adaptive-lognorm_rho0.002_m128_it20"
    assert Definition("worst", "linf", rho=0.002, data="test").id == "worst_linf_adaptive-lognorm_rho0.002_m128_it20_data-test"
    assert Definition("average", "l2", rho=0.1, data="augmented").id.endswith("_s20_data-augmented")
    with pytest.raises(ValueError, match="data must be one of"):
        Definition("worst", "linf", rho=0.002, data="val")


def test_families_expand_n_iters_and_data_and_ablation_groups_vary_one_field():
    families = [
        {"algorithm": "worst", "norm": "linf", "variant": "adaptive-lognorm", "rho": 0.002, "n_iters": [5, 10, 20, 50]},
        {"algorithm": "worst", "norm": "linf", "variant": "adaptive-lognorm", "rho": 0.002, "data": ["train", "test", "augmented"]},
        {"algorithm": "worst", "norm": "linf", "variant": "adaptive-lognorm", "rho": 0.002, "m": [16, 32, 64]},
        {"algorithm": "average", "norm": "l2", "variant": "adaptive", "rho": 0.1},
    ]
    defs = plan.definitions(families, "test")
    assert len(defs) == 4 + 2 + 3 + 1  # the (n_iters 20, data train, m 128) definition appears once
    assert plan.ablations(defs) == ["m", "n_iters", "data"]
    (iters,) = plan.ablation_groups(defs, "n_iters")
    assert [d.n_iters for d in iters] == [5, 10, 20, 50]
    (data,) = plan.ablation_groups(defs, "data")
    assert [d.data for d in data] == ["train", "test", "augmented"]
    (ms,) = plan.ablation_groups(defs, "m")
    assert [d.m for d in ms] == [16, 32, 64, 128]
    assert plan.ablations(defs[-1:]) == []


def test_batches_come_from_the_definitions_data_and_test_data_is_cut_to_a_multiple_of_m():
    x, y = torch.arange(20.0)[:, None], torch.arange(20)
    splits = {"sharpness": (x[:16], y[:16]), "sharpness_test": (x[:10] + 100, y[:10])}
    data = sharpness_data(splits)
    assert sorted(data) == ["test", "train"]
    train = batches_for(data, Definition("worst", "linf", rho=0.1, m=4), "digits")
    test = batches_for(data, Definition("worst", "linf", rho=0.1, m=4, data="test"), "digits")
    assert len(train) == 4 and len(test) == 2 and float(test[0][0][0]) == 100.0
    with pytest.raises(ValueError, match="offers no 'augmented' examples"):
        batches_for(data, Definition("worst", "linf", rho=0.1, m=4, data="augmented"), "digits")


def test_digits_subset_holds_test_examples_and_one_fixed_augmented_draw(tmp_path):
    from sharpgen.data.digits import digits_splits

    splits, _ = digits_splits(0.3, 0, 3, 0)
    datasets.save(splits, tmp_path / "dataset.pt")
    block = {"data": {"test_fraction": 0.3, "split_seed": 0, "shift_severity": 3, "shift_seed": 0}}
    for name in ("a", "b"):
        prepare_subset("digits", block, 256, 0, {"dataset": tmp_path / "dataset.pt"}, tmp_path / f"{name}.pt", tmp_path / f"{name}.parquet")
    subset, again = datasets.load(tmp_path / "a.pt"), datasets.load(tmp_path / "b.pt")
    x, y = subset["sharpness"]
    assert torch.equal(subset["sharpness_test"][0], splits["test"][0][:256])
    xa, ya = subset["sharpness_augmented"]
    assert torch.equal(ya, y) and xa.shape == x.shape and not torch.equal(xa, x)
    assert torch.equal(xa, again["sharpness_augmented"][0])  # reproducible from the seed


def _definition_row(d: Definition) -> dict:
    return {"definition": d.id, "variant": d.variant, **d.as_dict()}


def test_plot_ablation_draws_tau_against_the_ablated_quantity(tmp_path):
    defs = plan.definitions([{"algorithm": "worst", "norm": "linf", "variant": "adaptive-lognorm", "rho": 0.002, "n_iters": [5, 20, 50]}], "t")
    sharp = pd.DataFrame([{**_definition_row(d), "setting": "digits", "model_id": "a"} for d in defs])
    for column in tables.SHARPNESS.names:
        if column not in sharp:
            sharp[column] = None
    sharp_path, corr_path = tmp_path / "sharpness.parquet", tmp_path / "correlation.parquet"
    tables.write(sharp[tables.SHARPNESS.names], sharp_path, tables.SHARPNESS, "sharpness")
    corr = pd.DataFrame([{"setting": "digits", "definition": d.id, "target": "test_error", "subgroup": "all", "n_models": 8,
                          "tau_b": tau, "tau_a": tau, "p_value": 0.1, "ci_low": 0.0, "ci_high": 1.0, "p_perm": 0.1,
                          "paper_value": float("nan"), "paper_match": None}
                         for d, tau in zip(defs, [0.2, 0.4, 0.45])])
    tables.write(corr, corr_path, tables.CORRELATION, "correlation")
    plot_ablation("digits", "n_iters", corr_path, sharp_path, ["test_error"], [tmp_path / "n_iters.png"])
    assert (tmp_path / "n_iters.png").stat().st_size > 0
    with pytest.raises(ValueError, match="differ only in data"):
        plot_ablation("digits", "data", corr_path, sharp_path, ["test_error"], [tmp_path / "data.png"])
