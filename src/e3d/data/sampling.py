"""The one temporal clip sampler used by training, evaluation, DARTS and SGS.

A clip is `clip_len` frame indices `rate` frames apart. When the video is shorter than the clip's
span, indices past the end loop back to the start (index modulo num_frames), so every video yields
a full clip and short videos repeat their motion rather than freezing on the last frame.
"""

from __future__ import annotations

import numpy as np


def _check(num_frames: int, clip_len: int, rate: int) -> None:
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if clip_len < 1:
        raise ValueError(f"clip_len must be >= 1, got {clip_len}")
    if rate < 1:
        raise ValueError(f"rate must be >= 1, got {rate}")


def clip_span(clip_len: int, rate: int) -> int:
    """Frames covered by one clip, first to last inclusive."""
    return (clip_len - 1) * rate + 1


def _indices(start: int, num_frames: int, clip_len: int, rate: int) -> np.ndarray:
    return (start + rate * np.arange(clip_len, dtype=np.int64)) % num_frames


def random_clip_indices(num_frames: int, clip_len: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    """One clip at a uniformly random start (training)."""
    _check(num_frames, clip_len, rate)
    max_start = max(0, num_frames - clip_span(clip_len, rate))
    start = int(rng.integers(0, max_start + 1))
    return _indices(start, num_frames, clip_len, rate)


def uniform_clip_indices(num_frames: int, clip_len: int, rate: int, num_clips: int) -> list[np.ndarray]:
    """`num_clips` clips with evenly spaced starts (K-view testing); K=1 gives the centre clip."""
    _check(num_frames, clip_len, rate)
    if num_clips < 1:
        raise ValueError(f"num_clips must be >= 1, got {num_clips}")
    max_start = max(0, num_frames - clip_span(clip_len, rate))
    if num_clips == 1:
        starts = [max_start // 2]
    else:
        # PySlowFast's spacing: clip k of K starts at k * max_start / (K - 1), first and last at the ends
        starts = [int(round(k * max_start / (num_clips - 1))) for k in range(num_clips)]
    return [_indices(s, num_frames, clip_len, rate) for s in starts]
