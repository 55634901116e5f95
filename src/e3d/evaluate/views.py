"""Test views of one clip: the short side resized to the crop size, then 1 centre crop (K-Center) or
3 crops along the long axis (K-LeftCenterRight), as in PySlowFast/X3D multi-view testing."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from e3d.data.sampling import SPACINGS
from e3d.errors import UserError
from e3d.evaluate.protocol import VIEW_CROPS as MODES
from e3d.evaluate.protocol import EvalProtocol
from e3d.train.clips import crop, normalize, resize_short_side, to_tensor


@dataclass(frozen=True)
class ViewPlan:
    mode: str = EvalProtocol.views  # center: K clips x 1 crop; lcr: K clips x 3 crops
    clips: int = EvalProtocol.clips  # K, uniformly spaced in time
    crop: int = 56
    frames: int = 8
    sample_rate: int = 1
    single_frame: bool = False  # the repeated-frame control: each clip is its middle frame repeated
    spacing: str = EvalProtocol.spacing  # how the K clips spread over the video (e3d.data.sampling.SPACINGS)

    def __post_init__(self):
        if self.mode not in MODES:
            raise UserError(f"view mode must be one of {sorted(MODES)}, got {self.mode!r}")
        if self.spacing not in SPACINGS:
            raise UserError(f"views: spacing must be one of {', '.join(SPACINGS)}, got {self.spacing!r}")
        if min(self.clips, self.crop, self.frames, self.sample_rate) < 1:
            raise UserError("views: clips, crop, frames and sample_rate must all be >= 1")

    @property
    def crops(self) -> int:
        return MODES[self.mode]

    def describe(self) -> str:
        return f"{self.clips}-{'Center' if self.mode == 'center' else 'LeftCenterRight'}"


def crop_offsets(h: int, w: int, size: int, crops: int) -> list[tuple[int, int]]:
    """(top, left) of each crop: the centre, or start/centre/end along the longer axis."""
    cy, cx = (h - size) // 2, (w - size) // 2
    if crops == 1:
        return [(cy, cx)]
    if w >= h:
        return [(cy, 0), (cy, cx), (cy, w - size)]
    return [(0, cx), (cy, cx), (h - size, cx)]


def clip_views(clip: np.ndarray, size: int, crops: int, mean, std,
               frame_size: tuple[int, int] | None = None) -> torch.Tensor:
    """uint8 [T, H, W, 3] -> float [crops, 3, T, size, size]. `frame_size`: the source frames' (height, width) when
    the clip is a shrunk copy of them (a clip cache's; e3d.data.pixels.resize_short_side)."""
    x = resize_short_side(to_tensor(clip), size, frame_size)
    _, _, h, w = x.shape
    views = [crop(x, t, l, size) for t, l in crop_offsets(h, w, size, crops)]
    return torch.stack([normalize(v, mean, std) for v in views])


def clip_frame_indices(num_frames: int, plan: ViewPlan, sampler=None) -> list[np.ndarray]:
    """The K test clips' frame indices; `sampler` is the run's (model_source.run_sampler)."""
    from e3d.data.sampling import uniform_clip_indices

    if sampler is not None:
        clips = [np.asarray(c) for c in sampler.test_indices(num_frames, plan.frames, plan.sample_rate, plan.clips,
                                                             plan.spacing)]
    else:
        clips = [np.asarray(c) for c in uniform_clip_indices(num_frames, plan.frames, plan.sample_rate, plan.clips,
                                                             plan.spacing)]
    if plan.single_frame:
        clips = [np.full(plan.frames, c[len(c) // 2]) for c in clips]
    return clips
