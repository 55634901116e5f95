"""Training hyper-parameters: one frozen value built from the workflow's `train` config slice.

The schema (workflow/schemas/train.schema.yaml) fills defaults in the workflow; `from_dict` repeats the
checks so `e3d train` run by hand with a hand-written JSON gets the same clear errors.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from e3d.data.sampling import SAMPLINGS
from e3d.errors import UserError


class SettingsError(UserError):
    """A training setting with a wrong name, type or range."""


@dataclass(frozen=True)
class TrainSettings:
    epochs: int = 10
    batch_size: int = 8  # clips per process; the global batch is batch_size x world size
    lr: float = 0.1  # peak learning rate for the global batch
    warmup_epochs: float = 1.0
    momentum: float = 0.9
    weight_decay: float = 5e-5  # on conv/linear weights only, never on norms or biases
    frames: int = 8  # clip length fed to the model
    sample_rate: int = 1  # temporal stride between sampled frames
    sampling: str = "clip"  # clip: one contiguous clip; segments: TSN, one frame from each of `frames` segments
    crop: int = 56  # training crop (square)
    short_side_scale: tuple[float, float] = (1.0, 1.25)  # random short side, relative to the crop
    flip: bool = True  # horizontal flip; off where classes are directional
    mean: tuple[float, float, float] = (0.45, 0.45, 0.45)
    std: tuple[float, float, float] = (0.225, 0.225, 0.225)
    label_smoothing: float = 0.0
    checkpoint_every: int = 50  # optimiser steps between mid-epoch checkpoints (0 = epoch ends only)
    num_workers: int = -1  # DataLoader workers per process; -1 = sized to the job's CPUs
    deterministic: bool = False  # deterministic kernels (bit-identical resume); slower on GPUs
    seed: int = 0

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "TrainSettings":
        d = dict(d or {})
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise SettingsError(f"train settings: unknown key(s) {unknown}; allowed: {sorted(known)}")
        values: dict[str, Any] = {}
        for name, value in d.items():
            default = known[name].default
            try:
                if isinstance(default, bool):
                    if not isinstance(value, bool):
                        raise TypeError
                elif isinstance(default, int):
                    if isinstance(value, bool) or int(value) != value:
                        raise TypeError
                    value = int(value)
                elif isinstance(default, float):
                    value = float(value)
                elif isinstance(default, tuple):
                    value = tuple(float(v) for v in value)
                    if len(value) != len(default):
                        raise TypeError
            except (TypeError, ValueError):
                raise SettingsError(f"train settings: {name} must be like {default!r}, got {value!r}") from None
            values[name] = value
        s = cls(**values)
        s.check()
        return s

    def check(self) -> None:
        for name in ("epochs", "batch_size", "frames", "sample_rate", "crop"):
            if getattr(self, name) < 1:
                raise SettingsError(f"train settings: {name} must be >= 1, got {getattr(self, name)}")
        if self.sampling not in SAMPLINGS:
            raise SettingsError(f"train settings: sampling must be one of {list(SAMPLINGS)}, got {self.sampling!r}")
        lo, hi = self.short_side_scale
        if not 1.0 <= lo <= hi:
            raise SettingsError(f"train settings: short_side_scale must satisfy 1 <= min <= max, got {self.short_side_scale}")
        if self.lr <= 0 or self.warmup_epochs < 0 or self.weight_decay < 0 or not 0 <= self.momentum < 1:
            raise SettingsError("train settings: need lr > 0, warmup_epochs >= 0, weight_decay >= 0, 0 <= momentum < 1")
        if min(self.std) <= 0:
            raise SettingsError(f"train settings: std must be positive, got {self.std}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        return d
