"""Setting blocks: validated against the common schema plus the setting's own keys, defaults everywhere."""

from __future__ import annotations

import pytest

from helpers.workflow import REPO
from sharpgen.config import load_common, resolve, validate_block

COMMON = load_common(REPO / "workflow" / "schemas" / "setting.schema.yaml")
SCHEMA = REPO / "workflow" / "schemas" / "setting.schema.yaml"


def test_defaults_apply_behind_refs_and_from_the_setting() -> None:
    digits = validate_block("digits", {}, COMMON)
    assert digits["sharpness"] == {"n": 1024, "seed": 0, "shards": 6, "max_train_error": 0.05}  # schema + digits' own
    assert digits["data"]["shift_severity"] == 3 and digits["zoo"]["batch_size"] == [32, 128]
    assert digits["zoo"]["families"]["resnet"]["epochs"] == 20 and digits["metrics"] == "evaluate"
    cifar = validate_block("cifar", {"models_csv": "x.csv"}, COMMON)
    assert cifar["sharpness"]["max_train_error"] == 0.01 and cifar["metrics"] == "evaluate"
    assert validate_block("soups", {}, COMMON)["metrics"] == "published"


def test_user_values_override_the_setting_defaults() -> None:
    block = validate_block("digits", {"sharpness": {"shards": 2}, "figures": {"marker": None}}, COMMON)
    assert block["sharpness"] == {"n": 1024, "seed": 0, "shards": 2, "max_train_error": 0.05} and block["figures"]["marker"] is None


@pytest.mark.parametrize("name, block, where", [
    ("digits", {"zoo": {"families": {"resnet": {"lr": [-0.1]}}}}, "digits.zoo.families.resnet.lr.0"),
    ("digits", {"metrics": "published"}, "digits.metrics"),
    ("soups", {"zoo": {}}, "soups"),
    ("digits", {"sharpness": {"n": 256.5}}, "digits.sharpness.n"),
])
def test_errors_name_the_key(name: str, block: dict, where: str) -> None:
    with pytest.raises(ValueError, match=rf"^config {where.replace('.', '[.]')}: "):
        validate_block(name, block, COMMON)


def test_top_level_keys_must_be_known_settings_or_options() -> None:
    with pytest.raises(ValueError, match=r"unknown key 'colour'"):
        resolve({"settings": ["digits"], "grid": "default", "colour": {}}, SCHEMA)
    blocks = resolve({"settings": ["digits"], "grid": "default", "soups": {"models": 2}}, SCHEMA)
    assert list(blocks) == ["digits"]  # blocks of settings not run are allowed and ignored
