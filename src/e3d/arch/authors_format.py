"""Import and export of the authors' structure format (TinyNAS configs and search outputs).

A Python-literal dict `{'best_structures': [[block, ...]], ...}` whose blocks are
`{'class': 'Conv3DKXBNRELU', 'in', 'out', 's', 'kt', 'k'}` (stem first, final conv last) and
`{'class': 'SuperRes3DK1DWK1', 'in', 'out', 'btn', 's', 'kt', 'k', 'L'}` (super blocks in between).
Only E3D-family specs (uniform super blocks, authors' residual, ReLU, no SE) can be exported without loss.
"""

from __future__ import annotations

import ast
import pprint
from typing import Any

from e3d.arch.spec import ArchSpec, BlockSpec, ConvSpec, HeadSpec, SpecError

CONV = "Conv3DKXBNRELU"
SUPER = "SuperRes3DK1DWK1"


def looks_like_authors_format(text: str) -> bool:
    return "best_structures" in text and ("SuperRes3DK1DWK1" in text or "Conv3DKXBNRELU" in text)


def _int(block: dict, key: str, where: str, default: int | None = None) -> int:
    value = block.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SpecError(f"{where}.{key}: expected a positive integer, got {value!r}")
    return value


def spec_from_authors(data: Any, name: str = "authors", resolution: int = 160, frames: int = 13,
                      where: str = "structure") -> ArchSpec:
    """The first of `best_structures` (or a bare block list) as an ArchSpec."""
    if isinstance(data, dict):
        if "best_structures" not in data:
            raise SpecError(f"{where}: no 'best_structures' key")
        structures = data["best_structures"]
        if not isinstance(structures, list) or not structures:
            raise SpecError(f"{where}.best_structures: expected a non-empty list of structures")
        blocks = structures[0]
    else:
        blocks = data
    if not isinstance(blocks, list) or len(blocks) < 3:
        raise SpecError(f"{where}: expected a list of at least 3 blocks (stem, super blocks, final conv)")
    for i, b in enumerate(blocks):
        if not isinstance(b, dict) or b.get("class") not in (CONV, SUPER):
            raise SpecError(f"{where}[{i}]: expected a {CONV} or {SUPER} block, got {b!r}")
    if blocks[0]["class"] != CONV or blocks[-1]["class"] != CONV:
        raise SpecError(f"{where}: the first and last blocks must be {CONV} (stem and final conv)")
    convs = []
    for i in (0, len(blocks) - 1):
        b = blocks[i]
        kt, k = _int(b, "kt", f"{where}[{i}]", 1), _int(b, "k", f"{where}[{i}]")
        convs.append(ConvSpec(out=_int(b, "out", f"{where}[{i}]"), kernel=(kt, k, k), stride=_int(b, "s", f"{where}[{i}]", 1)))
    supers = []
    prev = convs[0].out
    for i, b in enumerate(blocks[1:-1], start=1):
        w = f"{where}[{i}]"
        if b["class"] != SUPER:
            raise SpecError(f"{w}: plain {CONV} blocks are only supported as stem and final conv")
        if "in" in b and b["in"] != prev:
            raise SpecError(f"{w}.in: {b['in']} does not match the previous block's output {prev}")
        kt, k = _int(b, "kt", w, 1), _int(b, "k", w)
        supers.append(BlockSpec(out=_int(b, "out", w), btn=_int(b, "btn", w), kernel=(kt, k, k),
                                stride=_int(b, "s", w, 1), layers=_int(b, "L", w, 1)))
        prev = supers[-1].out
    if blocks[-1].get("in", prev) != prev:
        raise SpecError(f"{where}[{len(blocks) - 1}].in: {blocks[-1]['in']} does not match {prev}")
    # validation (odd kernels etc.) lives in one place: the JSON reader

    spec = ArchSpec(name=name, stem=convs[0], blocks=tuple(supers), final=convs[1], head=HeadSpec(),
                    resolution=resolution, frames=frames, family="e3d")
    return ArchSpec.from_json(spec.to_json())


def spec_to_authors(spec: ArchSpec) -> dict[str, Any]:
    """The authors' dict for an E3D-family spec; refuses specs their blocks cannot express."""
    for i, b in enumerate(spec.blocks):
        if b.per_layer or b.se_ratio > 0 or b.residual != "e3d" or b.act != "relu" or b.dw_act not in ("", "relu"):
            raise SpecError(f"{spec.name}: blocks[{i}] uses features the authors' {SUPER} cannot express "
                            "(per-layer widths, SE, projection residuals or non-ReLU activations)")
    if spec.stem.temporal_dw:
        raise SpecError(f"{spec.name}: the authors' format has no temporal depthwise stem conv")
    out = [{"class": CONV, "in": spec.in_channels, "out": spec.stem.out, "s": spec.stem.stride,
            "kt": spec.stem.kernel[0], "k": spec.stem.kernel[1]}]
    c = spec.stem.out
    for b in spec.blocks:
        out.append({"class": SUPER, "in": c, "out": b.out, "btn": b.btn, "s": b.stride, "kt": b.kernel[0],
                    "k": b.kernel[1], "L": b.layers})
        c = b.out
    out.append({"class": CONV, "in": c, "out": spec.final.out, "s": spec.final.stride,
                "kt": spec.final.kernel[0], "k": spec.final.kernel[1]})
    return {"best_structures": [out], "space_arch": "CnnNet", "image_size": spec.resolution,
            "frames": spec.frames}


def dumps_authors(spec: ArchSpec) -> str:
    return pprint.pformat(spec_to_authors(spec), sort_dicts=False, width=120) + "\n"


def loads_authors(text: str, name: str = "authors", where: str = "structure") -> ArchSpec:
    try:
        data = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError) as exc:
        raise SpecError(f"{where}: not a Python-literal structure ({exc.__class__.__name__}: {exc})") from exc
    resolution = frames = None
    if isinstance(data, dict):
        resolution, frames = data.get("image_size"), data.get("frames")
    return spec_from_authors(data, name=name, resolution=resolution if isinstance(resolution, int) else 160,
                             frames=frames if isinstance(frames, int) else 13, where=where)
