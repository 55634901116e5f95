"""Settings blocks declared once: a frozen dataclass whose fields carry their default, constraints and doc.

A block's field is declared with `setting(default, doc=..., minimum=..., enum=...)`; the keyword names are JSON
schema's. From that one declaration come
- the block's JSON-schema fragment with its defaults and descriptions (`object_schema`), written into
  workflow/schemas/ by `python -m e3d.schemagen --write` and compared with the committed files by the tests;
- the same constraints checked in Python (`check_fields`), so `e3d ...` run by hand with a hand-written JSON
  stops on exactly the values the workflow's schema refuses;
- argparse flags whose type, default, choices and help are the field's (`add_flags`).
No torch here: Snakemake reads the schemas while it builds the DAG.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import types
import typing
from typing import Any, Iterable

# JSON-schema keywords a field may carry; the schema writes them in this order.
CONSTRAINTS = ("enum", "minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum", "pattern", "items", "minItems",
               "maxItems", "uniqueItems")
_SCALAR_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", dict: "object"}


def setting(default: Any = dataclasses.MISSING, *, doc: str | None = None, factory: Any = dataclasses.MISSING,
            schema: dict[str, Any] | None = None, **constraints: Any) -> Any:
    """A dataclass field with its doc and JSON-schema constraints (`minimum=1`, `enum=[...]` or a function returning
    the list, ...); `schema`
    replaces the schema derived from the annotation where the config spells the value differently from Python
    (the search's kernel list is a string there)."""
    unknown = sorted(set(constraints) - set(CONSTRAINTS))
    if unknown:
        raise TypeError(f"setting(): unknown constraint(s) {unknown}; allowed: {list(CONSTRAINTS)}")
    metadata = {"doc": doc, "constraints": constraints, "schema": schema}
    return dataclasses.field(default=default, default_factory=factory, metadata=metadata)


def _meta(f: dataclasses.Field) -> dict[str, Any]:
    meta = {"doc": None, "constraints": {}, "schema": None, **f.metadata}
    # A callable constraint (e.g. the names of a registry that tests or plug-ins extend) is read when it is used.
    meta["constraints"] = {k: list(v()) if callable(v) else v for k, v in meta["constraints"].items()}
    return meta


def fields_of(cls: type, names: Iterable[str] | None = None) -> list[dataclasses.Field]:
    """The block's fields, all or those named (in the given order)."""
    by_name = {f.name: f for f in dataclasses.fields(cls)}
    return list(by_name.values()) if names is None else [by_name[n] for n in names]


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    # resolved once per block: every field check of every instance reads them
    return typing.get_type_hints(cls)


def _split_optional(hint: Any) -> tuple[Any, bool]:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(hint)) == 2:
            return args[0], True
    return hint, False


def _type_schema(hint: Any) -> dict[str, Any]:
    base, optional = _split_optional(hint)
    origin = typing.get_origin(base) or base
    if origin is tuple or origin is list:
        args = typing.get_args(base)
        out: dict[str, Any] = {"type": "array"}
        item = args[0] if args else None
        if item is not None and item is not Ellipsis and item in _SCALAR_TYPES:
            out["items"] = {"type": _SCALAR_TYPES[item]}
        if origin is tuple and args and Ellipsis not in args:
            out["minItems"] = out["maxItems"] = len(args)
    elif origin in _SCALAR_TYPES:
        out = {"type": _SCALAR_TYPES[origin]}
    else:
        raise TypeError(f"no JSON-schema type for annotation {hint!r}")
    if optional:
        out["type"] = [out["type"], "null"]
    return out


def json_default(f: dataclasses.Field) -> Any:
    """A field's default as the config spells it (tuples as lists; a `schema` override's own default)."""
    override = _meta(f)["schema"]
    if override is not None and "default" in override:
        return override["default"]
    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
    else:
        return dataclasses.MISSING
    return _jsonable(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def property_schema(cls: type, f: dataclasses.Field, *, default: Any = dataclasses.MISSING) -> dict[str, Any]:
    """The JSON schema of one field: type, constraints, default (the field's, or `default`), description."""
    meta = _meta(f)
    if meta["schema"] is not None:
        out = dict(meta["schema"])
    else:
        out = _type_schema(_hints(cls)[f.name])
        constraints = meta["constraints"]
        if "items" in constraints and "items" in out:
            out["items"] = {**out["items"], **constraints["items"]}
        out.update({k: v for k, v in constraints.items() if k != "items" or "items" not in out})
        out = {k: out[k] for k in ("type", *CONSTRAINTS) if k in out}
    value = json_default(f) if default is dataclasses.MISSING else _jsonable(default)
    if value is not dataclasses.MISSING:
        out["default"] = value
    if meta["doc"]:
        out["description"] = meta["doc"]
    return out


def object_schema(cls: type, *, names: Iterable[str] | None = None, description: str | None = None,
                  values: Any = None, extra: dict[str, Any] | None = None, object_default: bool = True
                  ) -> dict[str, Any]:
    """The block as a JSON-schema object: no unknown keys, every (named) field with its default, or the defaults
    of `values` (an instance: a preset); `extra` adds workflow-only keys; fields without a default are required.
    `object_default` gives the object itself the default {} (so the workflow fills in its keys' defaults)."""
    out: dict[str, Any] = {"type": "object", "additionalProperties": False}
    if object_default:
        out["default"] = {}
    if description:
        out["description"] = description
    props: dict[str, Any] = {}
    required = []
    for f in fields_of(cls, names):
        default = getattr(values, f.name) if values is not None else dataclasses.MISSING
        props[f.name] = property_schema(cls, f, default=default)
        if json_default(f) is dataclasses.MISSING and values is None:
            required.append(f.name)
    props.update(extra or {})
    if required:
        out["required"] = required
    out["properties"] = props
    return out


def key_names(cls: type) -> list[str]:
    """Every key of the block, in declaration order (what per-dataset / per-model overrides may set)."""
    return [f.name for f in dataclasses.fields(cls)]


# ---- the same constraints in Python -----------------------------------------------------------------------------

def _type_ok(value: Any, py: Any) -> bool:
    if py is bool:
        return isinstance(value, bool)
    if py is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if py is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if py in (str, dict):
        return isinstance(value, py)
    return True


def _describe(py: Any, c: dict[str, Any], optional: bool) -> str:
    if "enum" in c:
        what = "one of " + ", ".join(map(str, c["enum"]))
    else:
        what = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(py, "a value")
        bounds = [f"{op} {c[k]}" for k, op in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="),
                                               ("exclusiveMaximum", "<")) if k in c]
        what += (" " + " and ".join(bounds)) if bounds else ""
    return what + (" or null" if optional else "")


def _value_ok(value: Any, py: Any, c: dict[str, Any]) -> bool:
    if not _type_ok(value, py):
        return False
    if "enum" in c and value not in c["enum"]:
        return False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in c and not value >= c["minimum"]:
            return False
        if "exclusiveMinimum" in c and not value > c["exclusiveMinimum"]:
            return False
        if "maximum" in c and not value <= c["maximum"]:
            return False
        if "exclusiveMaximum" in c and not value < c["exclusiveMaximum"]:
            return False
    return True


def field_problem(cls: type, f: dataclasses.Field, value: Any) -> str | None:
    """Why a value does not fit the field's declaration, or None."""
    meta = _meta(f)
    if meta["schema"] is not None:
        return None  # spelled differently in the config; the block's own code checks it
    hint, optional = _split_optional(_hints(cls)[f.name])
    if value is None:
        return None if optional else _describe(hint, meta["constraints"], False)
    c = meta["constraints"]
    origin = typing.get_origin(hint) or hint
    if origin in (tuple, list):
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        item_c = c.get("items", {})
        item_py = args[0] if args else None
        fixed = len(args) if origin is tuple and Ellipsis not in typing.get_args(hint) else None
        low, high = c.get("minItems", fixed or 0), c.get("maxItems", fixed)
        if not isinstance(value, (tuple, list)) or len(value) < low or (high is not None and len(value) > high) \
                or not all(_value_ok(v, item_py, item_c) for v in value):
            return "a list of " + _describe(item_py, item_c, False)
        if c.get("uniqueItems") and len(set(value)) != len(value):
            return "a list without repeats"
        return None
    return None if _value_ok(value, origin, c) else _describe(origin, c, optional)


def check_fields(obj: Any, error: type[Exception], prefix: str = "", names: Iterable[str] | None = None) -> None:
    """Raise `error` naming the first field whose value breaks its declaration."""
    cls = type(obj)
    for f in fields_of(cls, names):
        value = getattr(obj, f.name)
        problem = field_problem(cls, f, value)
        if problem:
            raise error(f"{prefix}{f.name} must be {problem}, got {value!r}")


# ---- argparse ---------------------------------------------------------------------------------------------------

def add_flags(parser: argparse.ArgumentParser, cls: type, names: Iterable[str], *, defaults: bool = True,
              required: Iterable[str] = ()) -> None:
    """`--key` flags for the named fields: type, choices and help from the declaration; the default is the
    field's (or None with defaults=False, so a flag left out does not override a lower layer of settings). A
    mapping is taken as JSON text (default "{}") and a list as comma-separated text (default the items joined, as
    e3d.cliflags writes it), which the command parses with its own error message."""
    hints = _hints(cls)
    required = set(required)
    for f in fields_of(cls, names):
        meta = _meta(f)
        base, _ = _split_optional(hints[f.name])
        base = typing.get_origin(base) or base
        kind = base if base in (int, float, str) else str  # a mapping or list is text, parsed by the command
        kw: dict[str, Any] = {"dest": f.name, "type": kind}
        if "enum" in meta["constraints"]:
            kw["choices"] = list(meta["constraints"]["enum"])
        if f.name in required:
            kw["required"] = True
        else:
            default = json_default(f) if defaults else None
            if isinstance(default, dict):
                default = json.dumps(default, sort_keys=True)
            elif isinstance(default, list):
                default = ",".join(str(v) for v in default)
            kw["default"] = None if default is dataclasses.MISSING else default
        if meta["doc"]:
            kw["help"] = meta["doc"].replace("%", "%%")
        parser.add_argument("--" + f.name.replace("_", "-"), **kw)
