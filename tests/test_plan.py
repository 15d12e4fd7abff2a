"""Planning: model sheets, jobs, definitions and downloads from validated config blocks, without torch."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from helpers.workflow import REPO
from sharpgen import plan, settings, tables
from sharpgen.config import load_common, validate_block

COMMON = load_common(REPO / "workflow" / "schemas" / "setting.schema.yaml")


def block(name: str, **keys) -> dict:
    return validate_block(name, keys, COMMON)


def test_digits_sheet_is_the_factorial_grid_in_a_stable_order() -> None:
    sheet = plan.model_sheet("digits", block("digits"))
    assert len(sheet) == 2 * 3 * 2 * 2 * 2  # families x lr x batch size x augmentation x SAM
    assert sheet["model_id"].iloc[0] == "resnet-lr0.01-bs32-aug0-sam0-s0"
    assert sheet["model_id"].is_unique and (sheet["source"] == "train").all()


def test_repeated_grid_values_are_a_planning_error_naming_the_setting() -> None:
    with pytest.raises(ValueError, match=r"config digits: repeated values give duplicate models"):
        plan.model_sheet("digits", block("digits", zoo={"batch_size": [32, 32]}))


def test_every_setting_sheet_has_exactly_its_declared_columns(tmp_path) -> None:
    csv = tmp_path / "models.csv"
    csv.write_text("model_id,arch,path,lr,sam_rho,augment,randaug\nrn,torch.nn:Identity,a.pt,0.1,0,true,false\n")
    blocks = {"digits": {}, "augreg": {}, "soups": {}, "bert": {}, "cifar": {"models_csv": str(csv)}}
    for name, keys in blocks.items():
        sheet = plan.model_sheet(name, block(name, **keys))
        assert list(sheet.columns) == tables.models_schema(name).names, name


def test_two_checkpoints_with_one_file_name_are_a_planning_error_naming_the_models(tmp_path) -> None:
    csv = tmp_path / "models.csv"
    csv.write_text("model_id,arch,path,lr,sam_rho,augment,randaug\n"
                   "a,torch.nn:Identity,x/m.pt,0.1,0,true,false\nb,torch.nn:Identity,y/m.pt,0.1,0,true,false\n")
    with pytest.raises(ValueError, match=r"config cifar: models \['a', 'b'\] share checkpoint file names \['m.pt'\]"):
        plan.model_sheet("cifar", block("cifar", models_csv=str(csv)))


def test_collection_keys_select_mirror_and_override() -> None:
    sheet = plan.model_sheet("soups", block("soups", models=3, base_url="http://127.0.0.1:9/m", arch="tiny"))
    assert list(sheet["model_id"]) == ["model_0", "model_1", "model_2"]
    assert list(sheet["url"]) == [f"http://127.0.0.1:9/m/model_{i}.pt" for i in range(3)] and set(sheet["arch"]) == {"tiny"}


def test_downloads_are_the_checkpoints_and_the_setting_extras() -> None:
    b = block("augreg", models=2, base_url="http://127.0.0.1:9/mirror")
    files = plan.downloads("augreg", b, plan.model_sheet("augreg", b))
    assert len(files) == 3 and files["index.csv"] == "http://127.0.0.1:9/mirror/index.csv"


def test_jobs_shard_by_a_stable_hash_so_a_new_model_touches_one_shard() -> None:
    sheet = pd.DataFrame({"model_id": [f"m{i}" for i in range(20)]})
    before = plan.jobs(sheet, 4)
    after = plan.jobs(pd.concat([sheet, pd.DataFrame({"model_id": ["new"]})]), 4)
    changed = [job for job in after if after[job] != before.get(job)]
    assert len(changed) == 1 and "new" in after[changed[0]]
    assert plan.jobs(sheet, 0) == {f"m{i}": [f"m{i}"] for i in sorted(range(20), key=lambda i: f"m{i}")}


def test_families_expand_to_unique_definitions_in_config_order() -> None:
    defs = plan.definitions([
        {"algorithm": "worst", "norm": "linf", "variant": ["adaptive", "adaptive-lognorm"], "rho": [0.001, 0.002]},
        {"algorithm": "worst", "norm": "linf", "variant": "adaptive", "rho": 0.001},
    ], "x")
    assert [d.id for d in defs] == [
        "worst_linf_adaptive_rho0.001_m128_it20", "worst_linf_adaptive_rho0.002_m128_it20",
        "worst_linf_adaptive-lognorm_rho0.001_m128_it20", "worst_linf_adaptive-lognorm_rho0.002_m128_it20",
    ]


def test_n_must_be_a_multiple_of_every_m() -> None:
    b = block("digits", sharpness={"n": 100}, grids={"g": [{"algorithm": "worst", "norm": "l2", "variant": "adaptive", "rho": 0.1, "m": 32}]})
    with pytest.raises(ValueError, match=r"digits.sharpness.n = 100 is not a multiple of m = 32"):
        plan.setting_definitions("digits", b, "g")


def test_planning_imports_neither_torch_timm_nor_transformers() -> None:
    code = (
        "import sys, yaml\n"
        "from sharpgen import config, plan\n"
        f"cfg = yaml.safe_load(open({str(REPO / 'config' / 'paper.yaml')!r}))\n"
        f"blocks = config.resolve(cfg, {str(REPO / 'workflow' / 'schemas' / 'setting.schema.yaml')!r})\n"
        "for s, b in blocks.items():\n"
        "    sheet = plan.model_sheet(s, b); plan.setting_definitions(s, b, 'paper'); plan.downloads(s, b, sheet)\n"
        "print(sorted(m for m in ('torch', 'timm', 'transformers') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_registry_lists_the_built_in_settings() -> None:
    assert {"digits", "augreg", "soups", "bert", "cifar"} <= set(settings.names())
    with pytest.raises(ValueError, match=r"unknown setting 'mnist'; known settings: .*digits"):
        settings.get("mnist")


def test_grid_families_with_a_models_selector_reach_only_their_models() -> None:
    sheet = pd.DataFrame({"model_id": ["r1", "r2", "v1"], "family": ["resnet18", "resnet18", "vit_exp"]})
    grid = [
        {"models": {"family": "resnet18"}, "algorithm": "worst", "norm": "linf", "variant": "adaptive", "rho": [0.001, 0.002]},
        {"models": {"family": ["vit_exp"]}, "algorithm": "worst", "norm": "linf", "variant": "adaptive", "rho": [0.0005, 0.001]},
        {"algorithm": "average", "norm": "l2", "variant": "adaptive-lognorm", "rho": 0.1},
    ]
    b = block("digits", grids={"g": grid})
    per_model = plan.model_definitions("digits", b, "g", sheet)
    assert [d.split("_m")[0] for d in per_model["r1"]] == ["worst_linf_adaptive_rho0.001", "worst_linf_adaptive_rho0.002", "average_l2_adaptive-lognorm_rho0.1"]
    assert per_model["r1"] == per_model["r2"] and len(per_model["v1"]) == 3
    assert set(per_model["r1"]) & set(per_model["v1"]) == {per_model["r1"][0], per_model["r1"][2]}  # rho 0.001 and the shared one
    used = plan.used_definitions(plan.setting_definitions("digits", b, "g"), per_model)
    assert len(used) == 4
    views = plan.figure_views(sheet, per_model, "family")
    assert list(views) == ["family=resnet18", "family=vit_exp"] and views["family=vit_exp"] == per_model["v1"]
    bad = block("digits", grids={"g": [{**grid[0], "models": {"depth": 3}}]})
    with pytest.raises(ValueError, match=r"config digits.grids.g\[0\].models: column 'depth' is not in the model sheet"):
        plan.model_definitions("digits", bad, "g", sheet)
