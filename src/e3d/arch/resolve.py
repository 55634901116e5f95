"""SPEC arguments: a built-in name, a JSON spec file, or a file in the authors' structure format."""

from __future__ import annotations

from pathlib import Path

from e3d.arch.authors_format import looks_like_authors_format, loads_authors
from e3d.arch.builtins import builtin_names, get_builtin
from e3d.arch.spec import ArchSpec, SpecError


def resolve_spec(text: str) -> ArchSpec:
    """A built-in name (case-insensitive), else a path to a JSON spec or an authors'-format file (auto-detected)."""
    if not isinstance(text, str) or not text.strip():
        raise SpecError("empty architecture argument; give a built-in name or a spec file")
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
    try:
        return ArchSpec.from_json(content)
    except SpecError as exc:
        if looks_like_authors_format(content):
            return loads_authors(content, name=path.stem, where=str(path))
        raise SpecError(f"{path}: {exc}") from exc
