"""The README's configuration reference names every key of the config schemas and of every setting's own keys."""

from __future__ import annotations

from pathlib import Path

import yaml

from sharpgen import settings

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
    schemas = [yaml.safe_load((REPO / "workflow" / "schemas" / f"{name}.schema.yaml").read_text()) for name in ("config", "setting")]
    built_in = [n for n in settings.names() if type(settings.get(n)).__module__.startswith("sharpgen.settings.")]
    schemas += [{"properties": dict(settings.get(name).block_schema)} for name in built_in]
    readme = (REPO / "README.md").read_text()
    names = set().union(*(keys(schema, schema.get("$defs", {}), set()) for schema in schemas))
    missing = sorted(k for k in names if f"`{k}" not in readme and f"{k}`" not in readme and f".{k}" not in readme and f" {k}," not in readme)
    assert not missing, f"README's configuration section lacks {missing}"
