"""SGS configuration: one frozen value, validated with errors that name the offending key."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

from e3d.errors import E3DError

# The option values, here so that the config (read while Snakemake builds the DAG) needs no torch.
DISTANCES = ("l2", "l1", "cosine")
BOUNDARIES = ("nearest", "both")
KERNEL_NORMS = ("none", "frame", "bin")
PLACEMENTS = ("before_act", "after_act")


class SGSConfigError(E3DError, ValueError):
    """An SGS config value that cannot work; the message names the key."""


@dataclass(frozen=True)
class SGSConfig:
    """num_bins: B; None = the clip length at the insertion point (the released configs use B = T).
    embed_dim: L (released configs: 8). distance: l2 (authors), l1 or cosine. kernel_norm: none (authors),
    frame or bin (see sampling.normalise_weights). boundary: nearest (each frame in exactly one bin) or
    both (the authors' kernel, a frame within 1e-7 of a bin edge in two; see sampling). drop_empty_bins: drop and pack empty bins (authors)
    or keep all B. stage: where the module goes; -1 = after the stem, i = after super block i (the
    authors place it after res2, i.e. the first residual stage: stage 0 here). placement: before_act (authors:
    after the stage's last residual add, before its activation) or after_act (after the whole stage)."""

    num_bins: int | None = None
    embed_dim: int = 8
    distance: str = "l2"
    kernel_norm: str = "none"
    boundary: str = "nearest"
    drop_empty_bins: bool = True
    stage: int = 0
    placement: str = "before_act"

    def __post_init__(self) -> None:
        if self.num_bins is not None and (isinstance(self.num_bins, bool) or not isinstance(self.num_bins, int) or self.num_bins < 1):
            raise SGSConfigError(f"sgs.num_bins: expected a positive integer or null, got {self.num_bins!r}")
        if isinstance(self.embed_dim, bool) or not isinstance(self.embed_dim, int) or self.embed_dim < 1:
            raise SGSConfigError(f"sgs.embed_dim: expected a positive integer, got {self.embed_dim!r}")
        if self.distance not in DISTANCES:
            raise SGSConfigError(f"sgs.distance: expected one of {', '.join(DISTANCES)}, got {self.distance!r}")
        if self.kernel_norm not in KERNEL_NORMS:
            raise SGSConfigError(f"sgs.kernel_norm: expected one of {', '.join(KERNEL_NORMS)}, got {self.kernel_norm!r}")
        if self.boundary not in BOUNDARIES:
            raise SGSConfigError(f"sgs.boundary: expected one of {', '.join(BOUNDARIES)}, got {self.boundary!r}")
        if not isinstance(self.drop_empty_bins, bool):
            raise SGSConfigError(f"sgs.drop_empty_bins: expected true or false, got {self.drop_empty_bins!r}")
        if self.placement not in PLACEMENTS:
            raise SGSConfigError(f"sgs.placement: expected one of {', '.join(PLACEMENTS)}, got {self.placement!r}")
        if isinstance(self.stage, bool) or not isinstance(self.stage, int) or self.stage < -1:
            raise SGSConfigError(f"sgs.stage: expected -1 (after the stem) or a super-block index >= 0, got {self.stage!r}")

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
