"""The validated config: every setting's block checked and completed with its defaults.

The top level (``settings``, ``grid``) is validated by the workflow against
``workflow/schemas/config.schema.yaml``; each setting's block here, against
``workflow/schemas/setting.schema.yaml`` plus the setting's own keys. Defaults apply at every
depth, also behind ``$ref``; errors name the key. Light: no torch.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, validators

from sharpgen import settings

TOP_LEVEL = ("settings", "grid", "theory", "trust_first_download")


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    """Follow a local ``$ref`` (``#/$defs/name``) to the schema it names."""
    while "$ref" in schema:
        node: Any = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def _with_defaults(cls):
    """A validator class that fills in ``default`` of missing properties, also behind ``$ref``."""
    check_properties = cls.VALIDATORS["properties"]

    def properties(validator, props, instance, schema):
        if isinstance(instance, dict):
            for name, sub in props.items():
                sub = _resolve(sub, validator.schema)
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from check_properties(validator, props, instance, schema)

    return validators.extend(cls, {"properties": properties})


def _is_integer(checker, instance: object) -> bool:
    """Strict integers: 256.0 and True are not integers (jsonschema's default accepts both)."""
    return isinstance(instance, int) and not isinstance(instance, bool)


Validator = validators.extend(
    _with_defaults(Draft202012Validator),
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer),
)


class _StrictLoader(yaml.SafeLoader):
    """A YAML loader for which a key repeated in one mapping is an error (PyYAML keeps the last)."""


def _unique_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue  # ``<<: *anchor``: keys written beside it override the merged ones
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise ValueError(
                f"{node.start_mark.name}: key {key!r} appears twice in one mapping (lines {seen[key] + 1} and "
                f"{key_node.start_mark.line + 1}); the first would be ignored: merge them into one"
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def check_config_files(paths: list[str | Path]) -> None:
    """Raise a ValueError naming the file, key and lines when a config file repeats a key."""
    for path in paths:
        path = Path(path)
        if path.suffix in (".yaml", ".yml") and path.is_file():
            with open(path) as stream:
                yaml.load(stream, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``, merging nested mappings."""
    out = dict(copy.deepcopy(base))
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, Mapping) and isinstance(out.get(key), Mapping) else copy.deepcopy(value)
    return out


def block_schema(name: str, common: Mapping[str, Any]) -> dict[str, Any]:
    """The schema of a block of the setting (kind) ``name``: the common keys plus the setting's own."""
    setting = settings.get(name)
    schema = copy.deepcopy(dict(common))
    schema["properties"].update(copy.deepcopy(dict(setting.block_schema)))
    schema["properties"]["metrics"] = {
        **schema["properties"]["metrics"], "enum": list(setting.metric_sources), "default": setting.metric_sources[0],
    }
    return schema


def validate_block(name: str, block: Mapping[str, Any], common: Mapping[str, Any], kind: str | None = None) -> dict[str, Any]:
    """The block ``name`` of setting ``kind`` (default: ``name``), completed with the setting's and the schema's defaults."""
    kind = kind or name
    schema = block_schema(kind, common)
    out = _merge(settings.get(kind).defaults, block)
    errors = sorted(Validator(schema).iter_errors(out), key=lambda e: list(e.absolute_path))
    if errors:
        error = errors[0]
        where = ".".join(str(p) for p in (name, *error.absolute_path))
        raise ValueError(f"config {where}: {error.message}")
    return out


def load_common(path: str | Path) -> dict[str, Any]:
    return yaml.safe_load(Path(path).read_text())


def check_top_level(config: Mapping[str, Any]) -> None:
    """Every top-level key besides ``settings``, ``grid`` and ``theory`` must name a registered
    setting or a block of ``settings`` (one that names its kind, e.g. ``kind: collection``)."""
    known = settings.names()
    for key in config:
        if key not in TOP_LEVEL and key not in known and key not in config.get("settings", []):
            raise ValueError(
                f"config: unknown key {key!r} at the top level; known: {', '.join(TOP_LEVEL)} and the setting blocks "
                f"({', '.join(known)})"
            )


def resolve(config: Mapping[str, Any], common_schema: str | Path) -> dict[str, dict[str, Any]]:
    """Validated blocks of the settings the config runs, by name. Blocks that name their kind
    (and every block of a kind described by its block) are bound (``sharpgen.settings.bind``)."""
    check_top_level(config)
    known = settings.names()
    kinds = {name: (config.get(name) or {}).get("kind", name) for name in config["settings"]}
    for name, kind in kinds.items():
        if kind != name and kind not in known:
            raise ValueError(f"config {name}.kind: unknown setting kind {kind!r}; known kinds: {', '.join(known)}")
    unknown = [name for name, kind in kinds.items() if kind not in known]
    if unknown:
        raise ValueError(
            f"config settings: unknown setting(s) {unknown}; known settings: {', '.join(known)} "
            "(or give a block of that name with `kind:`, e.g. kind: collection)"
        )
    common = load_common(common_schema)
    out = {}
    for name, kind in kinds.items():
        out[name] = validate_block(name, config.get(name) or {}, common, kind)
        if kind != name or settings.get(kind).from_block:
            settings.bind(name, kind, out[name])
    return out
