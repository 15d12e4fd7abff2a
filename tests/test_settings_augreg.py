"""AugReg: index.csv selection and the .npz -> timm loader, end to end over a local HTTP server."""

from __future__ import annotations

import itertools

import pandas as pd
import pytest
import timm
import torch

from helpers.bigvision import vit_to_npz
from sharpgen.download import download
from sharpgen import settings
from sharpgen.settings.augreg import AUGS, INDEX_COLUMNS, parse_name

TINY = "vit_base_patch16_224?img_size=32&embed_dim=24&depth=2&num_heads=2&num_classes=7"


def _index_rows(variant: str, ds: str, adapt_ds: str = "imagenet2012") -> list[dict]:
    rows = []
    for aug, wd, dosd in itertools.product(AUGS, (0.1, 0.03), (0.0, 0.1)):
        up = f"{variant}-{ds}-300ep-lr_0.001-aug_{aug}-wd_{wd}-do_{dosd}-sd_{dosd}"
        for lr, res in itertools.product((0.01, 0.03), (224, 384)):
            rows.append(dict.fromkeys(INDEX_COLUMNS, 0.5) | {
                "name": variant.replace("_", "/"), "ds": ds, "lr": 0.001, "aug": aug, "wd": wd,
                "do": dosd, "sd": dosd, "adapt_ds": adapt_ds, "adapt_lr": lr, "adapt_steps": 20000,
                "adapt_resolution": res, "adapt_final_test": 0.7 + lr, "filename": up,
                "adapt_filename": f"{up}--{adapt_ds}-steps_20k-lr_{lr}-res_{res}",
            })
    return rows


@pytest.fixture
def index_csv(tmp_path):
    rows = (_index_rows("B_16", "i1k") + _index_rows("S_16", "i1k") + _index_rows("B_16", "i21k")
            + _index_rows("B_16", "i1k", adapt_ds="cifar100"))
    path = tmp_path / "index.csv"
    pd.DataFrame(rows, columns=INDEX_COLUMNS).to_csv(path, index=False)
    return path


def test_manifest_selects_56_b16_i1k_imagenet_finetunes(index_csv):
    sheet = settings.get("augreg").sheet({"models_csv": str(index_csv)})
    assert len(sheet) == 56 and sheet["model_id"].is_unique
    assert set(sheet["aug"]) == set(AUGS) and set(sheet["wd"]) == {0.1, 0.03}
    assert set(sheet["adapt_lr"]) == {0.01, 0.03} and set(sheet["adapt_res"]) == {224}
    assert (sheet["arch"] == "vit_base_patch16_224").all()
    assert sheet["url"].str.fullmatch(
        r"https://storage\.googleapis\.com/vit_models/augreg/B_16-i1k-300ep-.*--imagenet2012-steps_20k-lr_0\.0[13]-res_224\.npz").all()
    assert (sheet["filename"] == sheet["model_id"] + ".npz").all()
    assert sheet["imagenet_acc"].isin([0.71, 0.73]).all()


@pytest.mark.parametrize(("collection", "upstreams"), [("i1k", {"i1k"}), ("i21k", {"i21k"}), ("both", {"i1k", "i21k"})])
def test_collections_select_from_index_and_grid(index_csv, collection, upstreams):
    from sharpgen.config import load_common, validate_block
    from helpers.workflow import REPO

    common = load_common(REPO / "workflow" / "schemas" / "setting.schema.yaml")
    for block in ({"models_csv": str(index_csv), "collection": collection}, {"collection": collection}):
        sheet = settings.get("augreg").sheet(validate_block("augreg", block, common))
        assert len(sheet) == 56 * len(upstreams) and sheet["model_id"].is_unique
        assert set(sheet["upstream_ds"]) == upstreams
        assert sheet["model_id"].str.fullmatch(r"B_16-i(1|21)k-300ep-lr_0\.001-aug_\w+-wd_0\.(1|03)-do_0\.[01]-sd_0\.[01]--imagenet2012-steps_20k-lr_0\.0[13]-res_224").all()
    with pytest.raises(ValueError, match="augreg.collection"):
        validate_block("augreg", {"collection": "i22k"}, common)


def test_upstream_kind_and_missing_columns(index_csv, tmp_path):
    from sharpgen.settings.augreg import read_index, select
    assert len(select(read_index(index_csv), kind="upstream")) == 28
    bad = tmp_path / "bad.csv"
    pd.read_csv(index_csv).drop(columns=["adapt_filename"]).to_csv(bad, index=False)
    with pytest.raises(ValueError, match="adapt_filename.*index.csv"):
        settings.get("augreg").sheet({"models_csv": str(bad)})


def test_parse_name():
    meta = parse_name("B_16-i1k-300ep-lr_0.001-aug_strong2-wd_0.1-do_0.1-sd_0.1--imagenet2012-steps_20k-lr_0.01-res_384")
    assert meta == {"variant": "B_16", "upstream_ds": "i1k", "epochs": 300, "lr": 0.001, "aug": "strong2",
                    "wd": 0.1, "do": 0.1, "sd": 0.1, "adapt_ds": "imagenet2012", "adapt_steps": 20000,
                    "adapt_lr": 0.01, "adapt_res": 384}


def test_npz_checkpoint_roundtrip_over_http(http_server, tmp_path):
    torch.manual_seed(0)
    reference = timm.create_model("vit_base_patch16_224", pretrained=False, img_size=32, embed_dim=24,
                                  depth=2, num_heads=2, num_classes=7, act_layer="gelu_tanh").eval()
    with torch.no_grad():  # non-trivial values for every parameter, incl. zero-initialised ones
        for p in reference.parameters():
            p.normal_(0, 0.2)
    vit_to_npz(reference, http_server.root / "tiny.npz")
    path = download(http_server.url("tiny.npz"), tmp_path / "dl" / "tiny.npz")
    loaded = settings.get("augreg").load_model(path, TINY, torch.device("cpu"))
    assert not loaded.training
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), reference(x), rtol=1e-5, atol=1e-5)


def test_wrong_arch_names_the_file(http_server, tmp_path):
    reference = timm.create_model("vit_base_patch16_224", pretrained=False, img_size=32, embed_dim=24,
                                  depth=1, num_heads=2, num_classes=7)
    vit_to_npz(reference, tmp_path / "tiny.npz")
    with pytest.raises(ValueError, match="tiny.npz"):
        settings.get("augreg").load_model(tmp_path / "tiny.npz", TINY, torch.device("cpu"))
