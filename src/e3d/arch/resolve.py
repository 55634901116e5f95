"""SPEC arguments: a built-in name, a JSON spec file, a file in the authors' structure format, or one of our
artifacts that carries a spec (a search's arch.json, a trained model's arch.json with its training options)."""

from __future__ import annotations

from pathlib import Path

from e3d.arch.authors_format import looks_like_authors_format, loads_authors
from e3d.arch.builtins import builtin_names, get_builtin
from e3d.arch.spec import ArchSpec, SpecError
from e3d.arch.variants import kernel_placement_variants
from e3d.model_kinds import kind_named, parse_reference, undeclared_kind

# The spec-family kinds of an architecture reference (`e3d train --arch KIND:VALUE`, declared in e3d.model_kinds);
# every command that takes a spec (score, profile) accepts them too, so one reference works everywhere.
SPEC_REFERENCE_KINDS = tuple(kind_named("spec").resolvers)


def variant_spec(value: str) -> ArchSpec:
    """`S-2` or `BASE/S-2` (the value of `variant:`): a paper Table 1 kernel-placement variant of X3D-S (or BASE)."""
    base, _, name = value.rpartition("/")
    try:
        variants = kernel_placement_variants(get_builtin(base or "x3d-s"))
    except Exception as exc:
        raise SpecError(f"architecture variant:{value}: {exc}") from exc
    if name not in variants:
        raise SpecError(f"architecture variant:{value}: no variant {name!r}; Table 1 has {', '.join(variants)}")
    return variants[name]


def resolve_spec(text: str) -> ArchSpec:
    """A reference `builtin:NAME`, `spec:FILE` or `search:ARCH.json`, or without a kind: a built-in name
    (case-insensitive), else a path to a JSON spec, one of our artifacts or an authors'-format file (auto-detected)."""
    if not isinstance(text, str) or not text.strip():
        raise SpecError("empty architecture argument; give a built-in name or a spec file")
    kind, value = parse_reference(text)
    foreign = kind if kind is not None and kind not in SPEC_REFERENCE_KINDS else undeclared_kind(text)
    if foreign and not Path(text).exists():
        kinds = ", ".join(k + ":" for k in SPEC_REFERENCE_KINDS)
        raise SpecError(f"{text!r}: {foreign}: is not a reference kind this command takes; it takes {kinds} "
                        "references, a built-in name or a spec file")
    if kind in SPEC_REFERENCE_KINDS:
        text = value
        if not text.strip():
            raise SpecError(f"architecture reference {kind}: names nothing")
        if kind == "builtin" and text.lower() not in builtin_names():
            raise SpecError(f"builtin:{text}: no such built-in architecture ({', '.join(builtin_names())})")
        if kind in ("spec", "search") and not Path(text).is_file():
            raise SpecError(f"{kind}:{text}: no such file")
        if kind == "variant":
            return variant_spec(text)
    if text.lower() in builtin_names():
        return get_builtin(text)
    path = Path(text)
    if not path.exists():
        raise SpecError(f"{text!r} is neither a built-in architecture ({', '.join(builtin_names())}) "
                        "nor an existing spec file")
    try:
        content = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: cannot read spec file ({exc})") from exc
    if looks_like_authors_format(content) and not content.lstrip().startswith("{\""):
        return loads_authors(content, name=path.stem, where=str(path))
    artifact_spec = _spec_from_artifact(content, path)
    if artifact_spec is not None:
        return artifact_spec
    try:
        return ArchSpec.from_json(content)
    except SpecError as exc:
        if looks_like_authors_format(content):
            return loads_authors(content, name=path.stem, where=str(path))
        raise SpecError(f"{path}: {exc}") from exc


def _spec_from_artifact(content: str, path: Path) -> ArchSpec | None:
    """The spec inside a search result ({"spec": ...}) or a trained model record ({"record": {"spec", "build_options"}});
    None for anything else. A model record gives the effective spec, i.e. with the options it was trained with."""
    import json

    try:
        doc = json.loads(content)
    except json.JSONDecodeError:
        return None
    if not isinstance(doc, dict) or "provenance" not in doc:
        return None
    try:
        if isinstance(doc.get("record"), dict) and isinstance(doc.get("spec"), dict):
            return ArchSpec.from_dict(doc["spec"])  # a trained model: the spec as trained, written beside its record
        if isinstance(doc.get("record"), dict) and isinstance(doc["record"].get("spec"), dict):
            from e3d.arch.options import effective_spec

            options = doc["record"].get("build_options") or {}
            return effective_spec(ArchSpec.from_dict(doc["record"]["spec"]),
                                  se_ratio=options.get("se_ratio"), act=options.get("act"))
        if isinstance(doc.get("spec"), dict):
            return ArchSpec.from_dict(doc["spec"])
    except SpecError as exc:
        raise SpecError(f"{path}: {exc}") from exc
    return None
