"""Training hyper-parameters: one frozen value built from the workflow's `train` config slice.

This dataclass is the one definition of the settings: their defaults, bounds and docs. The workflow's schema
fragments (workflow/schemas/generated/train_settings*.schema.yaml, written by `python -m e3d.schemagen --write`)
are generated from it, and `check` applies the same bounds, so `e3d train` run by hand with a hand-written JSON
stops on the values the workflow refuses.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from e3d.data.sampling import SAMPLINGS
from e3d.errors import UserError
from e3d.settingspec import check_fields, setting

# The smallest training crop accepted: the schema's bound and `check`'s are this one value (they differed, 8 and 1).
MIN_CROP = 8


class SettingsError(UserError):
    """A training setting with a wrong name, type or range."""


@dataclass(frozen=True)
class TrainSettings:
    epochs: int = setting(10, minimum=1)
    batch_size: int = setting(8, minimum=1, doc="clips per process; the global batch is batch_size x world size")
    lr: float = setting(0.1, exclusiveMinimum=0, doc="peak learning rate for the global batch")
    warmup_epochs: float = setting(1.0, minimum=0)
    optimizer: str = setting("sgd", enum=["sgd", "adamw"],
                             doc="sgd = SGD with momentum (the paper's, X3D's); adamw = AdamW (betas 0.9, 0.999), its "
                                 "weight decay decoupled from the gradient")
    momentum: float = setting(0.9, minimum=0, maximum=0.999, doc="SGD's momentum (sgd only)")
    weight_decay: float = setting(5e-5, minimum=0, doc="on conv/linear weights only, none on norms and biases; "
                                                         "AdamW's decoupled decay (about 0.05) is far larger than "
                                                         "SGD's L2 (5e-5 here, 5e-5 in X3D)")
    frames: int = setting(8, minimum=1, doc="clip length fed to the model")
    sample_rate: int = setting(1, minimum=1, doc="temporal stride between sampled frames")
    sampling: str = setting(
        "clip", enum=list(SAMPLINGS),
        doc="clip = one contiguous clip of `frames` frames `sample_rate` apart (Kinetics/X3D style); segments = TSN "
            "sampling: the video cut into `frames` equal segments, one frame from each (random in training, centred "
            "at test), so the clip spans the whole video (the TSN/TSM Something-Something protocol)")
    crop: int = setting(56, minimum=MIN_CROP, doc="training crop (square)")
    short_side_scale: tuple[float, float] = setting((1.0, 1.25), items={"minimum": 1.0},
                                                    doc="random short side, as a multiple of the crop")
    flip: bool = setting(True, doc="random horizontal flip (off for directional classes)")
    mean: tuple[float, float, float] = setting((0.45, 0.45, 0.45))
    std: tuple[float, float, float] = setting((0.225, 0.225, 0.225), items={"exclusiveMinimum": 0})
    label_smoothing: float = setting(0.0, minimum=0, maximum=1)
    checkpoint_every: int = setting(50, minimum=0, doc="optimiser steps between mid-epoch checkpoints (0 = epoch ends only)")
    num_workers: int = setting(-1, minimum=-1, doc="DataLoader workers per process; -1 = sized to the job's CPUs")
    deterministic: bool = setting(False, doc="deterministic kernels (bit-identical resume); slower on GPUs")
    seed: int = setting(0)

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
        check_fields(self, SettingsError, "train settings: ")
        lo, hi = self.short_side_scale
        if not lo <= hi:
            raise SettingsError(f"train settings: short_side_scale must satisfy min <= max, got {self.short_side_scale}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        return d
