"""HomoEntr, STEntr and cost of paper Table 1's kernel-placement variants of X3D-S (the specs: e3d.arch.variants).

Each variant is an ordinary spec, scored by the one scorer and cost model.

The paper's convention, reproduced in `homoentr` / `stentr` (and checked against all ten printed HomoEntr values):
the stem is scored as one plain 1x3x3 conv (the authors' Conv3DKXBNRELU stem), without a term for X3D's 5x1x1
depthwise temporal conv, which adds 0.73-0.81 nats to every variant (`homoentr_with_stem_dw`,
`stentr_with_stem_dw`: the network as built); params are counted for Sth-Sth V1's 174 classes, the dataset of
Table 1 (its 3.32-3.33 M; 400 classes give 3.78-3.79 M).

The workflow's x3d_kernel_variants rule calls write_variants (workflow/scripts/x3d_kernel_variants.py); by hand:
`python -m e3d.search.variants --out FILE [--base B --resolution R --frames T --classes N]`. Both take their settings
from one declaration, VariantsSettings, which also writes the config's `search.x3d_kernel_variants` schema.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Any, Mapping

from e3d.arch.spec import ArchSpec
from e3d.arch.variants import kernel_placement_variants
from e3d.errors import E3DError
from e3d.settingspec import add_flags, check_fields, key_names, setting

TABLE1_CLASSES = 174  # Sth-Sth V1, the dataset of paper Table 1
# A config-only key of search.x3d_kernel_variants: whether the workflow builds the variants at all.
ENABLED_KEY = {"enabled": {"type": "boolean", "default": True,
                           "description": "score the variants (needed by Table 1 and Figure 2)"}}


class VariantsError(E3DError, ValueError):
    """Kernel-variant settings that cannot work; the message names the key."""


@dataclasses.dataclass(frozen=True)
class VariantsSettings:
    """The variants' settings, declared once: the config's `search.x3d_kernel_variants` schema
    (workflow/schemas/generated/x3d_kernel_variants.schema.yaml, `python -m e3d.schemagen --write`) and the
    `python -m e3d.search.variants` flags come from these fields, and __post_init__ checks the same bounds."""

    base: str = setting("x3d-s", doc="the built-in architecture whose kernel placements are varied (Table 1: X3D-S)")
    resolution: int = setting(160, minimum=1, doc="input resolution the variants are scored and costed at")
    frames: int = setting(13, minimum=1, doc="input frames the variants are scored and costed at")
    classes: int = setting(TABLE1_CLASSES, minimum=1,
                           doc="classes the params count (Table 1 is on Sth-Sth V1: 174)")

    def __post_init__(self) -> None:
        check_fields(self, VariantsError, "search.x3d_kernel_variants.")

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> "VariantsSettings":
        """The settings of the config's search.x3d_kernel_variants (its `enabled` is the workflow's)."""
        return cls(**{k: v for k, v in section.items() if k not in ENABLED_KEY})


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


def write_variants(out: str, settings: VariantsSettings = VariantsSettings()) -> list[dict[str, Any]]:
    """Score the variants of built-in `settings.base` and write them as the artifact Table 1 and Figure 2 read (the
    workflow's x3d_kernel_variants rule, workflow/scripts/x3d_kernel_variants.py); returns the rows."""
    from e3d.arch.builtins import get_builtin
    from e3d.arch.cost import CONVENTION
    from e3d.artifacts import Provenance, write_json
    from e3d.provenance import STAGE_MODULES

    rows = score_variants(get_builtin(settings.base), settings.resolution, settings.frames, settings.classes)
    cfg = dataclasses.asdict(settings)  # base, resolution, frames, classes: the provenance's config
    write_json(out, {"variants": rows, "base": settings.base, "flops_convention": CONVENTION,
                     "paper_table": "Table 1 (kernel placement on X3D-S, stage 4 split 5 + 6)"},
               Provenance.make("e3d.search.x3d_kernel_variants", 1, cfg, STAGE_MODULES["search"]))
    return rows


def summary(rows: list[dict[str, Any]]) -> str:
    """One JSON line per run: each variant's scores and GFLOPs."""
    return json.dumps([{k: r[k] for k in ("variant", "homoentr", "stentr", "gflops")} for r in rows])


def build_parser() -> argparse.ArgumentParser:
    """`--out` and the settings' flags (type, default and help from VariantsSettings, as the config's schema)."""
    p = argparse.ArgumentParser(prog="python -m e3d.search.variants", description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    add_flags(p, VariantsSettings, key_names(VariantsSettings))
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = VariantsSettings(**{key: getattr(args, key) for key in key_names(VariantsSettings)})
        rows = write_variants(args.out, settings)
    except E3DError as exc:
        print(f"e3d: error: {exc}", file=sys.stderr)
        return 2
    print(summary(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
