"""Any spec-built model (E3D, X3D, ...) with one SGS layer inserted, as a model source of the training stage.

Reference: `sgs:{"base": BASE_REF, "sgs": {SGS settings}}` (what the workflow makes of a models entry with an
`sgs:` block). The record keeps the base model's own record, so evaluation rebuilds exactly the base network
plus the layer. Declared as a model kind in e3d.model_kinds.
"""

from __future__ import annotations

import json
from typing import Any

from torch import nn

from e3d.train.model_source import ArchRefError, ModelOptions, resolve

KIND = "sgs"


def sgs_ref(base: str, settings: dict[str, Any] | None) -> str:
    return f"{KIND}:" + json.dumps({"base": base, "sgs": dict(settings or {})}, sort_keys=True)


def resolve_sgs(value: str, options: ModelOptions) -> dict[str, Any]:
    from e3d.sgs.config import SGSConfig, SGSConfigError

    try:
        ref = json.loads(value)
    except json.JSONDecodeError as exc:
        raise ArchRefError(f"architecture sgs:{value}: not valid JSON ({exc})") from exc
    if not isinstance(ref, dict) or not isinstance(ref.get("base"), str) or set(ref) - {"base", "sgs"}:
        raise ArchRefError(f'architecture sgs:{value}: expected {{"base": REFERENCE, "sgs": {{settings}}}}')
    base = resolve(ref["base"], options)
    if base.get("kind") != "spec":
        raise ArchRefError(f"architecture sgs:{value}: SGS is inserted into spec-built models (E3D, X3D, ...); "
                           f"the base {ref['base']!r} is a {base.get('kind')!r} model")
    try:
        config = SGSConfig.from_dict(ref.get("sgs"))
        _check_stage(base, config)
    except SGSConfigError as exc:
        raise ArchRefError(f"architecture {ref['base']} + SGS: {exc}") from exc
    return {"kind": KIND, "base": base, "sgs": config.to_dict(), "source": f"{base.get('source', ref['base'])} + SGS"}


def _check_stage(base: dict[str, Any], config) -> None:
    from e3d.sgs.config import SGSConfigError

    blocks = len(base["spec"].get("blocks", []))
    if not -1 <= config.stage < blocks:
        raise SGSConfigError(f"sgs.stage: {config.stage} is not in -1..{blocks - 1} "
                             f"(-1 = after the stem, i = after super block i)")


def build_sgs(record: dict[str, Any], num_classes: int) -> nn.Module:
    from e3d.arch.spec import spec_from_dict
    from e3d.sgs.config import SGSConfig
    from e3d.sgs.network import build_sgs_model

    base = record["base"]
    return build_sgs_model(spec_from_dict(base["spec"]), num_classes, SGSConfig.from_dict(record["sgs"]),
                           **base.get("build_options", {}))

