"""The README's configuration reference names every key of the config schema."""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def keys(node: dict, defs: dict, seen: set[str]) -> set[str]:
    out: set[str] = set()
    if "$ref" in node:
        name = node["$ref"].split("/")[-1]
        if name not in seen:
            out |= keys(defs[name], defs, seen | {name})
    for key, child in node.get("properties", {}).items():
        out.add(key)
        out |= keys(child, defs, seen)
    return out


def test_readme_config_reference_covers_the_schema() -> None:
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    readme = (REPO / "README.md").read_text()
    missing = sorted(k for k in keys(schema, schema["$defs"], set()) if f"`{k}" not in readme and f"{k}`" not in readme and f".{k}" not in readme and f" {k}," not in readme)
    assert not missing, f"README's configuration section lacks {missing}"
