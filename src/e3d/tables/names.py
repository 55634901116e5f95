"""One normal form for model names, so rows from our runs join rows transcribed from the paper.

"E3D-S" -> "e3d-s", "X3D*" -> "x3d", "MoViNet-A0" -> "movinet-a0", "E3D-S (STEntr)" -> "e3d-s-stentr",
"NL I3D" -> "nl-i3d", "R(2+1)D" -> "r-2+1-d". The paper's reproduction marker "*" is dropped because it
annotates a row, not a model.
"""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[^a-z0-9+.]+")


def normalise_model_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"model name must be a non-empty string, got {name!r}")
    key = _SEPARATORS.sub("-", name.strip().lower().replace("*", ""))
    key = key.strip("-")
    if not key:
        raise ValueError(f"model name {name!r} has no letters or digits")
    return key
