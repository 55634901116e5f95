"""SPEC argument -> ArchSpec for `e3d score` / the Table 1 variants: a built-in name or a JSON spec file."""

from __future__ import annotations

from pathlib import Path

from e3d.arch.builtins import builtin_names, get_builtin
from e3d.arch.spec import ArchSpec, load_spec_file
from e3d.errors import E3DError


def resolve_arch(text: str) -> ArchSpec:
    if text.lower() in builtin_names():
        return get_builtin(text)
    path = Path(text)
    if path.is_file():
        return load_spec_file(path)
    raise E3DError(f"{text!r} is neither a built-in architecture ({', '.join(builtin_names())}) nor a spec file")
