"""Workflow config: JSON-schema validation that fills defaults and names the offending key.

The schema lives in workflow/schemas/config.schema.yaml; each top-level section may live in its own
file referenced with {"$ref": "section.schema.yaml"} (or one part of a file: "file.yaml#/properties/key"), which
is inlined on load.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from e3d.errors import E3DError

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SCHEMA = REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml"


class ConfigError(E3DError, ValueError):
    """The config does not match the schema; the message names the key and what was expected."""


def load_schema(path: str | Path = DEFAULT_SCHEMA) -> dict[str, Any]:
    path = Path(path)
    return _inline_refs(yaml.safe_load(path.read_text()), path.parent)


def _inline_refs(node: Any, base: Path) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#"):
            # FILE or FILE#/json/pointer (one property of a generated block, e.g. the search's shared keys)
            file, _, pointer = ref.partition("#")
            target = base / file
            loaded = yaml.safe_load(target.read_text())
            for part in filter(None, pointer.split("/")):
                loaded = loaded[part]
            return _inline_refs(loaded, target.parent)
        return {k: _inline_refs(v, base) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline_refs(v, base) for v in node]
    return node


def _fill_defaults(node: Any, schema: dict[str, Any]) -> None:
    """Recursively insert defaults for missing object properties (objects default to {} if they have defaults)."""
    if not isinstance(node, dict) or schema.get("type") != "object":
        return
    for key, sub in schema.get("properties", {}).items():
        if key not in node:
            if "default" in sub:
                node[key] = copy.deepcopy(sub["default"])
            elif sub.get("type") == "object" and "properties" in sub:
                node[key] = {}
        if key in node:
            _fill_defaults(node[key], sub)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        for key, value in node.items():
            if key not in schema.get("properties", {}):
                _fill_defaults(value, extra)


def _describe(error: Any) -> str:
    path = ".".join(str(p) for p in error.absolute_path) or "<top level>"
    validator = error.validator
    schema = error.schema
    if validator == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed)) if isinstance(error.instance, dict) else []
        hint = ""
        if unknown:
            import difflib

            close = difflib.get_close_matches(unknown[0], allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"config key {path}: unknown key(s) {unknown}{hint}; allowed: {allowed}"
    if validator == "type":
        return f"config key {path}: expected {schema['type']}, got {error.instance!r}"
    if validator == "enum":
        return f"config key {path}: expected one of {schema['enum']}, got {error.instance!r}"
    if validator == "required":
        return f"config key {path}: {error.message}"
    return f"config key {path}: {error.message}"


def validate_config(config: dict[str, Any], schema_path: str | Path = DEFAULT_SCHEMA) -> dict[str, Any]:
    """Validate in place, filling defaults; raise ConfigError naming the first bad key."""
    import jsonschema

    schema = load_schema(schema_path)
    _fill_defaults(config, schema)
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.absolute_path), str(e.absolute_path)))
    if errors:
        raise ConfigError("\n".join(_describe(e) for e in errors[:5]))
    return config


def load_config(*paths: str | Path, schema_path: str | Path = DEFAULT_SCHEMA) -> dict[str, Any]:
    """Load and deep-merge YAML files (later ones win), then validate."""
    merged: dict[str, Any] = {}
    for p in paths:
        data = yaml.safe_load(Path(p).read_text()) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"{p}: a config file must hold a mapping at the top level")
        _deep_merge(merged, data)
    return validate_config(merged, schema_path)


def _deep_merge(into: dict[str, Any], new: dict[str, Any]) -> None:
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _deep_merge(into[k], v)
        else:
            into[k] = copy.deepcopy(v)
