"""The kernel-placement variants of paper Table 1: X3D-S with stage 4 (11 layers) split into two stages of 5 and 6
layers, giving five stages 2..6 (X3D res2, res3, res4a, res4b, res5).

- S-N: only stage N uses 1x5x5, every other stage 3x3x3;
- T-N: only stage N uses 3x3x3, every other stage 1x5x5.
Each variant is an ordinary spec; its HomoEntr and STEntr (and cost) are computed by the one scorer / cost model.

The paper's convention, reproduced in `homoentr` / `stentr` (and checked against all ten printed HomoEntr values):
the stem is scored as one plain 1x3x3 conv (the authors' Conv3DKXBNRELU stem), without a term for X3D's 5x1x1
depthwise temporal conv, which adds 0.73-0.81 nats to every variant (`homoentr_with_stem_dw`,
`stentr_with_stem_dw`: the network as built); params are counted for Sth-Sth V1's 174 classes, the dataset of
Table 1 (its 3.32-3.33 M; 400 classes give 3.78-3.79 M).

The workflow's x3d_kernel_variants rule calls write_variants (workflow/scripts/x3d_kernel_variants.py); by hand:
`python -m e3d.search.variants --out FILE [--resolution R --frames T]`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Any

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


TABLE1_CLASSES = 174  # Sth-Sth V1, the dataset of paper Table 1


def without_stem_temporal_dw(spec: ArchSpec) -> ArchSpec:
    """The spec as the authors' scorer sees an X3D stem: one plain conv, no depthwise temporal conv."""
    return dataclasses.replace(spec, stem=dataclasses.replace(spec.stem, temporal_dw=0))


def score_variants(base: ArchSpec, resolution: int | None = None, frames: int | None = None,
                   classes: int = TABLE1_CLASSES) -> list[dict[str, Any]]:
    from e3d.arch.cost import cost
    from e3d.score.entropy import score_spec

    rows = []
    for name, spec in kernel_placement_variants(base).items():
        r = resolution or spec.resolution
        t = frames or spec.frames
        c = cost(spec, r, t, num_classes=classes)
        paper_view = without_stem_temporal_dw(spec)
        homo = score_spec(paper_view, "homoentr", r, t)
        st = score_spec(paper_view, "stentr", r, t)
        rows.append({
            "variant": name,
            "homoentr": homo.score,
            "stentr": st.score,
            "stentr_valid": st.valid,
            "homoentr_with_stem_dw": score_spec(spec, "homoentr", r, t).score,
            "stentr_with_stem_dw": score_spec(spec, "stentr", r, t).score,
            "gflops": c.gflops,
            "params": c.params,
            "classes": classes,
            "layers": c.layers,
            "resolution": r,
            "frames": t,
            "spec": spec.to_dict(),
        })
    return rows


def write_variants(out: str, base: str = "x3d-s", resolution: int | None = None, frames: int | None = None,
                   classes: int = TABLE1_CLASSES) -> list[dict[str, Any]]:
    """Score the variants of built-in `base` and write them as the artifact Table 1 and Figure 2 read (the workflow's
    x3d_kernel_variants rule, workflow/scripts/x3d_kernel_variants.py); returns the rows."""
    from e3d.arch.builtins import get_builtin
    from e3d.arch.cost import CONVENTION
    from e3d.artifacts import Provenance, write_json
    from e3d.provenance import STAGE_MODULES

    rows = score_variants(get_builtin(base), resolution, frames, classes)
    cfg = {"base": base, "resolution": resolution, "frames": frames, "classes": classes}
    write_json(out, {"variants": rows, "base": base, "flops_convention": CONVENTION,
                     "paper_table": "Table 1 (kernel placement on X3D-S, stage 4 split 5 + 6)"},
               Provenance.make("e3d.search.x3d_kernel_variants", 1, cfg, STAGE_MODULES["search"]))
    return rows


def summary(rows: list[dict[str, Any]]) -> str:
    """One JSON line per run: each variant's scores and GFLOPs."""
    return json.dumps([{k: r[k] for k in ("variant", "homoentr", "stentr", "gflops")} for r in rows])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m e3d.search.variants", description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--base", default="x3d-s")
    p.add_argument("--resolution", type=int, default=None)
    p.add_argument("--frames", type=int, default=None)
    p.add_argument("--classes", type=int, default=TABLE1_CLASSES, help="classes the params count (Table 1: 174)")
    args = p.parse_args(argv)
    try:
        rows = write_variants(args.out, args.base, args.resolution, args.frames, args.classes)
    except E3DError as exc:
        print(f"e3d: error: {exc}", file=sys.stderr)
        return 2
    print(summary(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
