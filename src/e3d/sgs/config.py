"""SGS configuration: one frozen value, validated with errors that name the offending key."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

from e3d.errors import E3DError
from e3d.settingspec import check_fields, setting

# The option values, here so that the config (read while Snakemake builds the DAG) needs no torch.
DISTANCES = ("l2", "l1", "cosine")
BOUNDARIES = ("nearest", "both")
KERNEL_NORMS = ("none", "frame", "bin")
PLACEMENTS = ("before_act", "after_act")


class SGSConfigError(E3DError, ValueError):
    """An SGS config value that cannot work; the message names the key."""


@dataclass(frozen=True)
class SGSConfig:
    """One SGS layer's settings, declared once (defaults are the authors' released configs): the models entries'
    `sgs:` schema (workflow/schemas/generated/sgs_module.schema.yaml, `python -m e3d.schemagen --write`) is
    generated from these fields and __post_init__ checks the same bounds. See sampling.normalise_weights for the
    kernel norms and sampling for the boundary rule."""

    num_bins: int | None = setting(None, minimum=1, doc="B; null = the clip length T at the insertion point (authors)")
    embed_dim: int = setting(8, minimum=1, doc="L, the embedding size (released configs: 8)")
    distance: str = setting("l2", enum=list(DISTANCES), doc="distance of a frame's embedding to the mean (authors: l2)")
    kernel_norm: str = setting("none", enum=list(KERNEL_NORMS),
                               doc="normalisation of the triangular kernel (authors: none)")
    boundary: str = setting("nearest", enum=list(BOUNDARIES),
                            doc="a frame on a bin edge: in the nearest bin (each frame in exactly one), or in both "
                                "(the authors' kernel: a frame within 1e-7 of a bin edge)")
    drop_empty_bins: bool = setting(True, doc="drop and pack empty bins (authors); false keeps all B")
    stage: int = setting(0, minimum=-1, doc="insert after this stage: -1 = the stem, i = super block i (authors: "
                                            "after res2, the first residual stage = 0)")
    placement: str = setting("before_act", enum=list(PLACEMENTS),
                             doc="before_act: between the stage's last residual add and its activation (authors); "
                                 "after_act: after the stage")

    def __post_init__(self) -> None:
        check_fields(self, SGSConfigError, "sgs.")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "SGSConfig":
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SGSConfigError(f"sgs: unknown key(s) {', '.join(unknown)}; expected {', '.join(sorted(known))}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def bins_for(self, frames: int) -> int:
        return self.num_bins if self.num_bins is not None else frames
