"""The generic collection setting and measures from outside the package.

One end-to-end run (the tutorial's collection: random-weight timm models saved as a torch state
dict, safetensors and {"last": ...}; a generated image folder with two shift splits; a measure
from a module outside the package) is shared by the workflow tests; planning errors are checked
on the planning functions, and once through ``snakemake -n``.
"""

from __future__ import annotations

import copy
import os
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from helpers.workflow import REPO, job_counts, snakemake, workdir
from sharpgen import config as sharpconfig
from sharpgen import plan, settings, tables

EXAMPLES = REPO / "docs" / "examples"
sys.path.insert(0, str(EXAMPLES))
import make_collection  # noqa: E402 - the tutorial's own script

SCHEMA = REPO / "workflow" / "schemas" / "setting.schema.yaml"
MEASURE_ID = "mean_entropy_n32_m16"


def block(sheet: str = "col/models.csv") -> dict:
    return {
        "kind": "collection",
        "sheet": sheet,
        "data": {
            "train": {"path": "col/images/train"},
            "test": {"path": "col/images/test"},
            "shifts": {"noise": {"path": "col/images/noise"}, "dark": {"path": "col/images/dark", "n": 12}},
            "transform": {"resize": 32, "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]},
        },
        "sharpness": {"n": 32},
        "grids": {"tiny": [{"algorithm": "average", "norm": "l2", "variant": "adaptive", "rho": 0.1, "m": 16, "n_samples": 2}]},
        "measures": [{"kind": "param_norm"}, {"kind": "function", "function": "my_measures:mean_entropy", "n": 32, "m": 16}],
        "correlation": {"group_by": ["family"], "hyperparameters": ["init_scale"], "resamples": 20},
        "figures": {"targets": ["test_error", "noise_error", "dark_error"], "color": "init_scale", "marker": "family"},
    }


def study(**blocks: dict) -> dict:
    return {"settings": list(blocks), "grid": "tiny", **blocks}


def make(root: Path, models: int = 3) -> None:
    make_collection.images(root / "col" / "images", {"train": 12, "test": 4, "noise": 4, "dark": 4})
    make_collection.write_sheet(root / "col" / "models.csv", make_collection.models(root / "col", models))
    plugins = root / "plugins"
    plugins.mkdir(exist_ok=True)
    shutil.copy(EXAMPLES / "my_measures.py", plugins / "my_measures.py")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One workflow run over the collection, in a working directory of its own."""
    root = workdir(tmp_path_factory.mktemp("collection"))
    make(root)
    (root / "mine.yaml").write_text(yaml.safe_dump(study(mine=block())))
    env = {"PYTHONPATH": os.pathsep.join([str(root / "plugins"), *filter(None, [os.environ.get("PYTHONPATH")])])}
    snakemake(root, "--configfile", "mine.yaml", extra_env=env, timeout=2400)
    return root, env


@pytest.mark.slow
def test_a_collection_runs_through_the_workflow(run) -> None:
    root, _ = run
    sharpconfig.resolve(study(mine=_at(root, block())), SCHEMA)  # binds "mine" in this process, to read its tables
    t = root / "results" / "tables" / "mine"
    models = tables.read(t / "models.parquet", tables.models_schema("mine"))
    assert list(models["model_id"]) == ["model0", "model1", "model2"]
    assert dict(settings.get("mine").columns)["init_scale"] == "float64" and dict(settings.get("mine").columns)["seed"] == "int64"
    metrics = tables.read(t / "metrics.parquet", tables.METRICS)
    assert set(metrics["split"]) == {"train", "test", "shift:noise", "shift:dark"}
    assert set(metrics.loc[metrics["split"] == "shift:dark", "n_examples"]) == {12}
    sharp = tables.read(t / "sharpness.parquet", tables.SHARPNESS)
    assert len(sharp) == 3 and sharp["sharpness_loss"].notna().all()
    measures = tables.read(t / "measures.parquet", tables.MEASURES)
    assert sorted(measures.loc[measures["measure"] == MEASURE_ID, "model_id"]) == ["model0", "model1", "model2"]
    assert measures["value"].notna().all()
    corr = tables.read(t / "correlation.parquet", tables.CORRELATION)
    assert MEASURE_ID in set(corr["definition"]) and {"noise_error", "dark_error"} <= set(corr["target"])
    assert MEASURE_ID in (root / "results" / "report" / "mine.md").read_text()
    assert MEASURE_ID in (root / "results" / "report" / "mine.html").read_text()
    assert (root / "results" / "figures" / "mine" / f"{sharp['definition'].iloc[0]}.png").stat().st_size > 0


def _at(root: Path, b: dict) -> dict:
    """The block with its paths under ``root`` (for planning in this process)."""
    b = copy.deepcopy(b)
    b["sheet"] = str(root / b["sheet"])
    for spec in [b["data"]["train"], b["data"]["test"], *b["data"]["shifts"].values()]:
        spec["path"] = str(root / spec["path"])
    return b


@pytest.mark.slow
def test_rerunning_changes_nothing_and_a_new_model_computes_only_itself(run) -> None:
    root, env = run
    assert "Nothing to be done" in snakemake(root, "-n", "--configfile", "mine.yaml", extra_env=env).stdout
    sheet = root / "col" / "models.csv"
    rows = pd.read_csv(sheet).to_dict("records") + make_collection.models(root / "col", 1, start=3)
    make_collection.write_sheet(root / "more.csv", rows)
    (root / "more.yaml").write_text(yaml.safe_dump(study(mine=block(sheet="more.csv"))))
    shutil.copy(sheet, root / "col" / "models.orig")
    (root / "more.csv").replace(sheet)
    counts = job_counts(snakemake(root, "-n", "--configfile", "mine.yaml", extra_env=env).stdout)
    (root / "col" / "models.orig").replace(sheet)
    assert counts["sharpness"] == 1 and counts["evaluate_models"] == 1 and counts["measures"] == 1 and counts["import_checkpoint"] == 1
    assert "prepare_dataset" not in counts and "prepare_subset" not in counts


@pytest.mark.slow
def test_a_changed_measure_reruns_the_measure_jobs_only(run) -> None:
    root, env = run
    module = root / "plugins" / "my_measures.py"
    original = module.read_text()
    module.write_text(original.replace("return total / count", "return 2 * total / count"))
    try:
        counts = job_counts(snakemake(root, "-n", "--configfile", "mine.yaml", extra_env=env).stdout)
    finally:
        module.write_text(original)
    assert counts["measures"] == 3 and "sharpness" not in counts and "evaluate_models" not in counts


@pytest.mark.slow
def test_a_bad_sheet_stops_snakemake_at_planning(run) -> None:
    root, env = run
    bad = root / "col" / "bad.csv"
    bad.write_text((root / "col" / "models.csv").read_text().replace("checkpoints/model1.safetensors", "checkpoints/gone.pt"))
    (root / "bad.yaml").write_text(yaml.safe_dump(study(mine=block(sheet="col/bad.csv"))))
    result = snakemake(root, "-n", "--configfile", "bad.yaml", extra_env=env, check=False)
    assert result.returncode != 0
    assert "bad.csv line 3 (model_id 'model1'), column 'checkpoint': missing checkpoint 'checkpoints/gone.pt'" in result.stdout + result.stderr


# --- planning, without the workflow ---


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sheets")
    make(root, models=3)
    sys.path.insert(0, str(root / "plugins"))
    return root


def resolve(root: Path, edit=None, **changes) -> dict:
    """Plan a block whose sheet is the made one, edited by ``edit(text)``; returns the blocks."""
    text = (root / "col" / "models.csv").read_text()
    (root / "col" / "edited.csv").write_text(edit(text) if edit else text)
    b = _at(root, block()) | {"sheet": str(root / "col" / "edited.csv")} | changes
    return sharpconfig.resolve(study(mine=b), SCHEMA)


@pytest.mark.parametrize(
    ("edit", "changes", "message"),
    [
        (lambda t: t.replace("checkpoints/model2.pth", "checkpoints/nowhere.pth"), {},
         "edited.csv line 4 (model_id 'model2'), column 'checkpoint': missing checkpoint 'checkpoints/nowhere.pth'"),
        (lambda t: t.replace("timm:test_resnet(num_classes=3)", "timm:no_such_net"), {},
         "edited.csv line 3 (model_id 'model1'), column 'arch': unknown architecture 'timm:no_such_net': timm has no model 'no_such_net'"),
        (lambda t: t.replace("model2,", "model0,"), {},
         "edited.csv line 4 (model_id 'model0'), column 'model_id': duplicated id (also"),
        (lambda t: t.replace(",0.75,", ",fast,"), {},
         "edited.csv line 3 (model_id 'model1'), column 'init_scale': 'fast' is not float64"),
        (None, {"columns": {"family": "int64"}},
         "edited.csv line 2 (model_id 'model0'), column 'family': 'test_vit' is not int64"),
        (lambda t: t.replace("timm:test_resnet(num_classes=3)", "nowhere_module:net"), {},
         "column 'arch': unknown architecture 'nowhere_module:net': module 'nowhere_module'"),
    ],
)
def test_a_bad_sheet_names_the_row_and_column(made, edit, changes, message) -> None:
    with pytest.raises((ValueError, FileNotFoundError)) as error:
        resolve(made, edit, **changes)
    assert message in str(error.value)


def test_config_keys_are_named(made) -> None:
    with pytest.raises(ValueError, match=r"config mine.columns: \['nope'\] are not columns"):
        resolve(made, columns={"nope": "int64"})
    with pytest.raises(ValueError, match=r"config mine.sharpness.n = 64 exceeds the 36 training examples"):
        plan.check_block("mine", resolve(made, sharpness={"n": 64})["mine"], plan.model_sheet("mine", resolve(made)["mine"]))
    with pytest.raises(ValueError, match=r"config mine\.kind: unknown setting kind 'colection'"):
        resolve(made, kind="colection")
    blocks = resolve(made, measures=[{"kind": "function", "function": "not_a_module:f"}])
    with pytest.raises(ValueError, match=r"config mine\.measures\[0\]\.function: module 'not_a_module'"):
        plan.measure_specs("mine", blocks["mine"])


def test_two_blocks_of_one_kind_plan_side_by_side(made) -> None:
    b = _at(made, block())
    blocks = sharpconfig.resolve(study(mine=b, theirs=b | {"sharpness": {"n": 16}}), SCHEMA)
    sheets = {name: plan.model_sheet(name, blocks[name]) for name in blocks}
    assert set(sheets["mine"]["setting"]) == {"mine"} and set(sheets["theirs"]["setting"]) == {"theirs"}
    assert list(sheets["mine"]["source"]) == ["local"] * 3
    assert [f for f in sheets["mine"]["filename"]] == ["model0.pt", "model1.safetensors", "model2.pth"]
    assert settings.get("theirs").columns == settings.get("mine").columns
    specs = plan.measure_specs("mine", blocks["mine"])
    assert specs[1]["function"] == "my_measures:mean_entropy" and len(specs[1]["digest"]) == 16


def test_every_checkpoint_format_loads_the_saved_weights(made) -> None:
    import torch

    from sharpgen.networks.factory import load_model, resolve

    for i, name in enumerate(["model0.pt", "model1.safetensors", "model2.pth"]):
        arch = make_collection.ARCHS[i % 2]
        torch.manual_seed(i)
        expected = resolve(arch)()
        with torch.no_grad():
            for p in expected.parameters():
                p.mul_(0.5 + 0.25 * i)
        got = load_model(made / "col" / "checkpoints" / name, arch)
        assert all(torch.equal(a, b) for a, b in zip(expected.state_dict().values(), got.state_dict().values(), strict=True))


def test_an_outside_measure_gets_its_batches_and_its_own_cache_key(made) -> None:
    import torch

    import my_measures
    from sharpgen.measures import Measure, compute_measure

    measure = Measure.from_dict({"kind": "function", "function": "my_measures:mean_entropy", "n": 10, "m": 4})
    assert measure.id == "mean_entropy_n10_m4"
    model = torch.nn.Linear(5, 3)
    x, y = torch.randn(12, 5), torch.arange(12) % 3
    assert compute_measure(measure, model, (x, y), None) == pytest.approx(my_measures.mean_entropy(model, [(x[:10], y[:10])]))
    assert measure.source() == Measure.from_dict({"kind": "function", "function": "my_measures:mean_entropy"}).source()
    assert measure.source() != Measure(kind="param_norm").source()
    with pytest.raises(ValueError, match="goes with kind function"):
        Measure(kind="param_norm", function="my_measures:mean_entropy")


def test_a_changed_function_invalidates_exactly_its_cache(tmp_path) -> None:
    import importlib

    import torch

    from sharpgen import datasets
    from sharpgen.jobs.measures import measures
    from sharpgen.measures import Measure

    module = tmp_path / "two_measures.py"
    module.write_text("def first(model, batches):\n    return 1.0\n\n\ndef second(model, batches):\n    return 2.0\n")
    sys.path.insert(0, str(tmp_path))
    torch.save(torch.nn.Linear(4, 3).state_dict(), tmp_path / "m.pt")
    datasets.save({"sharpness": (torch.randn(8, 4), torch.arange(8) % 3)}, tmp_path / "subset.pt")
    chosen = [Measure.from_dict({"kind": "function", "function": f"two_measures:{f}", "n": 8, "m": 4}) for f in ("first", "second")]
    args = ("collection", [("m", tmp_path / "m.pt", "torch.nn:Linear(in_features=4, out_features=3)")], tmp_path / "subset.pt", chosen, tmp_path / "cache", 1)
    measures(*args, tmp_path / "out.parquet")
    cache = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "cache" / "m").iterdir()}
    module.write_text(module.read_text().replace("return 2.0", "return 3.0"))
    importlib.reload(importlib.import_module("two_measures"))
    measures(*args, tmp_path / "out.parquet")
    changed = sorted(p.name for p in (tmp_path / "cache" / "m").iterdir() if p.stat().st_mtime_ns != cache[p.name])
    assert changed == ["second_n8_m4.parquet"]
    assert list(tables.read(tmp_path / "out.parquet", tables.MEASURES)["value"]) == [1.0, 3.0]


def test_any_kind_serves_a_block_of_another_name() -> None:
    blocks = sharpconfig.resolve({"settings": ["small"], "grid": "default", "small": {"kind": "digits", "zoo": {"seeds": [3]}}}, SCHEMA)
    sheet = plan.model_sheet("small", blocks["small"])
    assert set(sheet["setting"]) == {"small"} and set(sheet["seed"]) == {3}
    assert settings.get("small").name == "small" and settings.get("digits").name == "digits"
    assert '"small":{"kind":"digits"' in settings.bindings()


def test_torchvision_and_transformers_architectures_load_their_state_dicts(tmp_path) -> None:
    import json

    import torch
    from safetensors.torch import save_file

    from sharpgen.networks.factory import check, load_model, resolve

    config = tmp_path / "config.json"
    config.write_text(json.dumps({"model_type": "vit", "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
                                  "intermediate_size": 32, "image_size": 32, "patch_size": 8, "num_labels": 3}))
    x = torch.randn(2, 3, 32, 32)
    for arch in ("torchvision:mobilenet_v3_small(num_classes=3)", f"transformers:ViTForImageClassification(config={str(config)!r})"):
        assert check(arch) is None
        model = resolve(arch)().eval()
        inner = model.inner if arch.startswith("transformers") else model
        save_file({k: v.contiguous() for k, v in inner.state_dict().items()}, str(tmp_path / "w.safetensors"))
        with torch.no_grad():
            assert torch.equal(load_model(tmp_path / "w.safetensors", arch).eval()(x), model(x))
    assert "torchvision has no model 'resnet_x'" in check("torchvision:resnet_x")
    assert "needs config=" in check("transformers:ViTForImageClassification")


def test_an_entry_point_of_the_group_names_a_measure(tmp_path, monkeypatch) -> None:
    info = tmp_path / "my_measures_pkg-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: my-measures-pkg\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[sharpgen.measures]\nmean_entropy = my_measures:mean_entropy\n")
    shutil.copy(EXAMPLES / "my_measures.py", tmp_path / "my_measures.py")
    monkeypatch.syspath_prepend(str(tmp_path))
    specs = plan.measure_specs("mine", {"measures": [{"kind": "function", "function": "mean_entropy", "n": 8}]})
    assert specs[0]["function"] == "my_measures:mean_entropy" and specs[0]["name"] == "mean_entropy"
    from sharpgen.measures import Measure

    assert Measure.from_dict(specs[0]).id == "mean_entropy_n8_m128"
    with pytest.raises(ValueError, match=r"'entropy' is neither module:function nor an entry point of group sharpgen.measures \(installed: \['mean_entropy'\]\)"):
        plan.measure_specs("mine", {"measures": [{"kind": "function", "function": "entropy"}]})
