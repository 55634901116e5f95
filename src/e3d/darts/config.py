"""Search configuration: every knob of the search with the reference's defaults, and presets per dataset.

The paper leaves the operation list, cell/node counts, channels and segment count unstated; the defaults are
DARTS's (8 cells, 4 nodes, 16 channels) and the reading note's input (4 segments x 2 frames x 112^2).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from e3d.darts.architect import ORDERS
from e3d.darts.ops import DEFAULT_PRIMITIVES
from e3d.darts.space import NetworkConfig
from e3d.errors import E3DError


class SearchConfigError(E3DError, ValueError):
    """A search config key with a bad value; the message names the key."""


@dataclass(frozen=True)
class SearchConfig:
    # network shape (see NetworkConfig)
    channels: int = 16
    layers: int = 8
    steps: int = 4
    multiplier: int = 4
    stem_multiplier: int = 3
    stem_stride: int = 2
    primitives: tuple[str, ...] = DEFAULT_PRIMITIVES
    # input: TSN segments
    segments: int = 4
    frames_per_segment: int = 2
    sample_rate: int = 1  # step between the frames of one snippet
    size: int = 112
    # data
    train_split: str = "train"
    train_portion: float = 0.5  # the weight half; the rest drives the architecture
    max_videos: int = 0  # 0: every training video; otherwise a deterministic stratified subset (smoke runs)
    batch_size: int = 16
    num_workers: int = 0
    bn_batches: int = 8  # batches of the weight half that re-estimate BatchNorm statistics before validating
    # schedule
    epochs: int = 50
    order: str = "first"
    arch_warmup_epochs: int = 0  # epochs of weight-only training before the alphas move
    seed: int = 0
    # weights: SGD with cosine annealing
    w_lr: float = 0.025
    w_lr_min: float = 0.001
    w_momentum: float = 0.9
    w_weight_decay: float = 3e-4
    grad_clip: float = 5.0
    # architecture: Adam
    a_lr: float = 3e-4
    a_beta1: float = 0.5
    a_beta2: float = 0.999
    a_weight_decay: float = 1e-3

    def __post_init__(self) -> None:
        object.__setattr__(self, "primitives", tuple(self.primitives))
        if self.order not in ORDERS:
            raise SearchConfigError(f"order: expected one of {list(ORDERS)}, got {self.order!r}")
        for name in ("sample_rate", "size", "batch_size", "epochs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise SearchConfigError(f"{name}: expected a positive integer, got {value!r}")
        for name in ("max_videos", "num_workers", "arch_warmup_epochs", "bn_batches"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise SearchConfigError(f"{name}: expected a non-negative integer, got {value!r}")
        if not 0.0 < self.train_portion < 1.0:
            raise SearchConfigError(f"train_portion: expected a value strictly between 0 and 1, got {self.train_portion}")
        for name in ("w_lr", "a_lr", "grad_clip"):
            if not getattr(self, name) > 0:
                raise SearchConfigError(f"{name}: expected a positive number, got {getattr(self, name)!r}")
        if not 0 <= self.w_lr_min <= self.w_lr:
            raise SearchConfigError(f"w_lr_min: expected 0 <= w_lr_min <= w_lr, got {self.w_lr_min}")
        self.network  # validates the shape fields

    @property
    def network(self) -> NetworkConfig:
        return NetworkConfig(
            channels=self.channels, layers=self.layers, steps=self.steps, multiplier=self.multiplier,
            stem_multiplier=self.stem_multiplier, stem_stride=self.stem_stride, segments=self.segments,
            frames_per_segment=self.frames_per_segment, primitives=self.primitives,
        )

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["primitives"] = list(self.primitives)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any], base: "SearchConfig | None" = None) -> "SearchConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SearchConfigError(f"unknown search config key(s) {unknown}; allowed: {sorted(known)}")
        values = (base or cls()).to_dict()
        values.update({k: v for k, v in data.items() if v is not None})
        return cls(**values)


PRESETS: dict[str, SearchConfig] = {
    # UCF101 split 1 from scratch: DARTS's search network on 4 segments x 2 frames x 112^2.
    "ucf101": SearchConfig(),
    # The built-in synthetic store: a network small enough to search in a few minutes on 2 CPU cores.
    "synthetic": SearchConfig(
        channels=4, layers=3, steps=2, multiplier=2, stem_stride=1, segments=4, frames_per_segment=2, size=24,
        max_videos=120, batch_size=8, epochs=3,
    ),
}


def preset(name: str) -> SearchConfig:
    try:
        return PRESETS[name]
    except KeyError:
        raise SearchConfigError(f"unknown preset {name!r}; known: {sorted(PRESETS)}") from None
