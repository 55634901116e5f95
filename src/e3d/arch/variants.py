"""The kernel-placement variants of paper Table 1: X3D-S with stage 4 (11 layers) split into two stages of 5 and 6
layers, giving five stages 2..6 (X3D res2, res3, res4a, res4b, res5).

- S-N: only stage N uses 1x5x5, every other stage 3x3x3;
- T-N: only stage N uses 3x3x3, every other stage 1x5x5.
Each variant is an ordinary spec (the reference `variant:S-2` names one); e3d.search.variants scores them.
"""

from __future__ import annotations

import dataclasses

from e3d.arch.spec import ArchSpec
from e3d.errors import E3DError

STAGES = (2, 3, 4, 5, 6)
SPATIAL = (1, 5, 5)
SPATIO_TEMPORAL = (3, 3, 3)


def split_stage4(spec: ArchSpec, first: int = 5) -> ArchSpec:
    """Split X3D's third super block (res4, 11 layers) into `first` + the rest, as the paper's Table 1 does."""
    if len(spec.blocks) != 4:
        raise E3DError(f"{spec.name}: expected the four X3D stages (res2..res5), found {len(spec.blocks)} blocks")
    b = spec.blocks[2]
    if not 0 < first < b.layers:
        raise E3DError(f"{spec.name}: cannot split a {b.layers}-layer stage after layer {first}")
    head = dataclasses.replace(b, layers=first, per_layer=b.per_layer[:first])
    tail = dataclasses.replace(b, layers=b.layers - first, stride=1, per_layer=b.per_layer[first:])
    return dataclasses.replace(spec, blocks=(spec.blocks[0], spec.blocks[1], head, tail, spec.blocks[3]))


def kernel_placement_variants(base: ArchSpec) -> dict[str, ArchSpec]:
    """{'S-2': spec, ..., 'T-6': spec} from an X3D-S spec (4 stages)."""
    split = split_stage4(base)
    out: dict[str, ArchSpec] = {}
    for family, only, rest in (("S", SPATIAL, SPATIO_TEMPORAL), ("T", SPATIO_TEMPORAL, SPATIAL)):
        for n in STAGES:
            blocks = tuple(
                dataclasses.replace(b, kernel=only if i + 2 == n else rest, per_layer=())
                for i, b in enumerate(split.blocks)
            )
            name = f"{family}-{n}"
            out[name] = dataclasses.replace(split, name=f"{base.name}-{name}", blocks=blocks)
    return out
