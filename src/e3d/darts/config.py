"""Search configuration: every knob of the search with the reference's defaults, and presets per dataset.

The paper leaves the operation list, cell/node counts, channels and segment count unstated; the defaults are
DARTS's (8 cells, 4 nodes, 16 channels) and the reading note's input (4 segments x 2 frames x 112^2).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from e3d.darts.architect import ORDERS
from e3d.darts.ops import DEFAULT_PRIMITIVES, OPS
from e3d.darts.space import NetworkConfig
from e3d.errors import E3DError
from e3d.settingspec import check_fields, setting


class SearchConfigError(E3DError, ValueError):
    """A search config key with a bad value; the message names the key."""


@dataclass(frozen=True)
class SearchConfig:
    """Every search setting, declared once: workflow/schemas/generated/darts.schema.yaml (`python -m e3d.schemagen
    --write`) is generated from these fields and PRESETS, and __post_init__ checks the same bounds."""

    # network shape (see NetworkConfig)
    channels: int = setting(16, doc="initial cell channels C (doubled at each reduction cell)")
    layers: int = setting(8, doc="cells in the search network")
    steps: int = setting(4, doc="intermediate nodes per cell")
    multiplier: int = setting(4, doc="nodes concatenated into a cell's output")
    stem_multiplier: int = setting(3, doc="stem channels = stem_multiplier x channels")
    stem_stride: int = setting(2, doc="spatial stride of the stem (1 or 2)")
    primitives: tuple[str, ...] = setting(DEFAULT_PRIMITIVES, items={"enum": sorted(OPS)}, minItems=2,
                                          uniqueItems=True, doc="candidate operations on every edge")
    # input: TSN segments
    segments: int = setting(4, doc="TSN segments K per video")
    frames_per_segment: int = setting(2, doc="frames F of the snippet taken from each segment")
    sample_rate: int = setting(1, minimum=1, doc="step between a snippet's frames")
    size: int = setting(112, minimum=1, doc="square crop side (pixels)")
    # data
    train_split: str = setting("train", doc="frame-store split the search uses (both halves come from it)")
    train_portion: float = setting(0.5, exclusiveMinimum=0.0, exclusiveMaximum=1.0,
                                   doc="fraction of the training videos in the weight half; the rest drives the "
                                       "architecture")
    max_videos: int = setting(0, minimum=0, doc="0: all training videos; N: a deterministic stratified subset")
    batch_size: int = setting(16, minimum=1, doc="clips per step")
    num_workers: int = setting(0, minimum=0, doc="DataLoader workers")
    bn_batches: int = setting(8, minimum=0, doc="batches re-estimating BatchNorm statistics before validation")
    # schedule
    epochs: int = setting(50, minimum=1, doc="search epochs")
    order: str = setting("first", enum=list(ORDERS), doc="first or second order architecture gradient")
    arch_warmup_epochs: int = setting(0, minimum=0, doc="weight-only epochs before the alphas move")
    seed: int = setting(0, doc="seed of weights, alphas, halves and sampling")
    # weights: SGD with cosine annealing
    w_lr: float = setting(0.025, exclusiveMinimum=0, doc="SGD learning rate (cosine annealed)")
    w_lr_min: float = setting(0.001, minimum=0, doc="final SGD learning rate (at most w_lr)")
    w_momentum: float = setting(0.9, doc="SGD momentum")
    w_weight_decay: float = setting(3e-4, doc="SGD weight decay")
    grad_clip: float = setting(5.0, exclusiveMinimum=0, doc="weight gradient norm clip")
    # architecture: Adam
    a_lr: float = setting(3e-4, exclusiveMinimum=0, doc="Adam learning rate of the alphas")
    a_beta1: float = setting(0.5, doc="Adam beta1")
    a_beta2: float = setting(0.999, doc="Adam beta2")
    a_weight_decay: float = setting(1e-3, doc="Adam weight decay of the alphas")

    def __post_init__(self) -> None:
        object.__setattr__(self, "primitives", tuple(self.primitives))
        # every declared bound but the operation names, which NetworkConfig reports with the known ones
        check_fields(self, SearchConfigError, names=[f.name for f in dataclasses.fields(self) if f.name != "primitives"])
        if not self.w_lr_min <= self.w_lr:
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
    "ucf101": SearchConfig(),
    "synthetic": SearchConfig(
        channels=4, layers=3, steps=2, multiplier=2, stem_stride=1, segments=4, frames_per_segment=2, size=24,
        max_videos=120, batch_size=8, epochs=3,
    ),
}
# What each preset is for (the description of its settings block in the darts config section).
PRESET_DOCS: dict[str, str] = {
    "ucf101": "UCF101 split 1 from scratch: 8 cells, 4 nodes, 16 channels, 4 segments x 2 frames x 112^2",
    "synthetic": "the built-in synthetic data: a few minutes on 2 CPU cores",
}


@dataclass(frozen=True)
class DartsSection:
    """The darts config section's keys beside its settings blocks (one per preset, see e3d.schemagen)."""

    datasets: list[str] = setting(
        factory=list,
        doc="data.datasets to search (rule darts_search: work/darts/{dataset}/genotype.json + metrics.parquet). A "
            "dataset uses the settings block of its name, else of its data format. A models entry `arch: "
            "darts:{dataset}` retrains the searched network from scratch (rules train/evaluate); "
            "results/table_darts_{dataset}.csv compares it.")
    compare: list[str] | None = setting(
        None, doc="models entries the DARTS table compares with, trained on the same data; null = every trained "
                  "models entry that is neither a DARTS nor an SGS model")


def preset(name: str) -> SearchConfig:
    try:
        return PRESETS[name]
    except KeyError:
        raise SearchConfigError(f"unknown preset {name!r}; known: {sorted(PRESETS)}") from None
