"""The shape of a cell network: how many cells, nodes, channels, which operations, how clips are segmented.

One frozen value shared by the search network, the genotype artifact and the discrete network, so the network
that is retrained is built from exactly the numbers the search used (or from explicit overrides).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from e3d.darts.ops import DEFAULT_PRIMITIVES, check_primitives
from e3d.errors import E3DError


class SpaceError(E3DError, ValueError):
    """A network shape that cannot be built; the message names the field."""


@dataclass(frozen=True)
class NetworkConfig:
    channels: int = 16  # C of the first cells; doubled at each reduction cell
    layers: int = 8  # number of cells
    steps: int = 4  # intermediate nodes per cell
    multiplier: int = 4  # nodes concatenated into a cell's output (the last `multiplier` of them)
    stem_multiplier: int = 3
    stem_stride: int = 1  # spatial stride of the stem (2 for 112^2 inputs keeps the cells affordable)
    segments: int = 4  # TSN segments K; the input carries K x frames_per_segment frames
    frames_per_segment: int = 2
    primitives: tuple[str, ...] = DEFAULT_PRIMITIVES

    def __post_init__(self) -> None:
        for name in ("channels", "layers", "steps", "multiplier", "stem_multiplier", "stem_stride", "segments",
                     "frames_per_segment"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise SpaceError(f"network.{name}: expected a positive integer, got {value!r}")
        if self.multiplier > self.steps:
            raise SpaceError(f"network.multiplier ({self.multiplier}) exceeds network.steps ({self.steps})")
        if self.stem_stride not in (1, 2):
            raise SpaceError(f"network.stem_stride: expected 1 or 2, got {self.stem_stride}")
        object.__setattr__(self, "primitives", check_primitives(self.primitives))

    @property
    def reduction_layers(self) -> tuple[int, ...]:
        """Cells at 1/3 and 2/3 of the depth reduce H and W by 2 (DARTS's placement)."""
        return tuple(sorted({self.layers // 3, 2 * self.layers // 3}))

    @property
    def num_edges(self) -> int:
        return sum(2 + i for i in range(self.steps))

    @property
    def clip_frames(self) -> int:
        return self.segments * self.frames_per_segment

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["primitives"] = list(self.primitives)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "network") -> "NetworkConfig":
        if not isinstance(data, dict):
            raise SpaceError(f"{where}: expected a mapping, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SpaceError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(known)}")
        data = dict(data)
        if "primitives" in data:
            data["primitives"] = tuple(data["primitives"])
        return cls(**data)

    def replace(self, **changes: Any) -> "NetworkConfig":
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})
