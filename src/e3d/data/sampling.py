"""The one temporal clip sampler used by training, evaluation, DARTS and SGS.

A clip is `clip_len` frame indices `rate` frames apart. When the video is shorter than the clip's
span, indices past the end loop back to the start (index modulo num_frames), so every video yields
a full clip and short videos repeat their motion rather than freezing on the last frame.
TSN segment sampling (SegmentSampler) instead spreads the clip over the whole video: one snippet per equal segment.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from e3d.errors import UserError


class SamplingError(UserError, ValueError):
    """A clip that a sampler cannot produce as asked (the message says why)."""


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


# ---- TSN segments: the clip spread over the whole video ----
def segment_bounds(num_frames: int, segments: int) -> list[tuple[int, int]]:
    """[start, end) of each of K equal segments (TSN); a video shorter than K frames repeats frames."""
    _check(num_frames, 1, 1)
    if segments < 1:
        raise ValueError(f"segments must be >= 1, got {segments}")
    edges = [(k * num_frames) // segments for k in range(segments + 1)]
    return [(min(edges[k], num_frames - 1), max(edges[k + 1], min(edges[k], num_frames - 1) + 1)) for k in range(segments)]


def segment_indices(num_frames: int, segments: int, frames_per_segment: int, rate: int, *, train: bool,
                    rng: np.random.Generator | None = None) -> np.ndarray:
    """Frame indices of K snippets of F frames (every `rate`-th frame), one per segment: at a random offset
    in training, centred at test. Concatenated segment-major, as segment networks split them."""
    if train and rng is None:
        raise ValueError("training snippets need an rng")
    out = []
    for start, end in segment_bounds(num_frames, segments):
        length = end - start
        if train:
            snippet = random_clip_indices(length, frames_per_segment, rate, rng)
        else:
            snippet = uniform_clip_indices(length, frames_per_segment, rate, 1)[0]
        out.append(np.asarray(snippet, dtype=np.int64) + start)
    return np.concatenate(out)


@dataclass(frozen=True)
class SegmentSampler:
    """TSN sampling (Wang et al. 2016; the usual Something-Something protocol of TSN/TSM): the clip's `frames`
    are K segments x F frames, so the clip always spans the whole video whatever its length. Test clip k of n
    takes, in every segment, the k-th of n uniformly spaced snippets (n = 1: each segment's centre snippet)."""

    segments: int
    frames_per_segment: int

    def __post_init__(self):
        if self.segments < 1 or self.frames_per_segment < 1:
            raise SamplingError(f"segment sampler: need segments >= 1 and frames_per_segment >= 1, got "
                                f"{self.segments} x {self.frames_per_segment}")

    def _check_frames(self, frames: int) -> None:
        if frames != self.segments * self.frames_per_segment:
            raise SamplingError(f"segment clips: {frames} frames asked, the sampler gives {self.segments} x "
                                f"{self.frames_per_segment} = {self.segments * self.frames_per_segment}")

    def train_indices(self, num_frames: int, frames: int, rate: int, rng: np.random.Generator) -> np.ndarray:
        self._check_frames(frames)
        return segment_indices(num_frames, self.segments, self.frames_per_segment, rate, train=True, rng=rng)

    def test_indices(self, num_frames: int, frames: int, rate: int, clips: int) -> list[np.ndarray]:
        self._check_frames(frames)
        if clips == 1:
            return [segment_indices(num_frames, self.segments, self.frames_per_segment, rate, train=False)]
        per_segment = [[np.asarray(c, dtype=np.int64) + start
                        for c in uniform_clip_indices(end - start, self.frames_per_segment, rate, clips)]
                       for start, end in segment_bounds(num_frames, self.segments)]
        return [np.concatenate([snips[k] for snips in per_segment]) for k in range(clips)]


SAMPLINGS = ("clip", "segments")  # the values of the training setting `sampling`


def settings_sampler(sampling: str, frames: int) -> SegmentSampler | None:
    """The sampler a training run's `sampling` setting names: None for "clip" (one contiguous clip, `frames`
    frames `rate` apart), a TSN sampler of `frames` segments x 1 frame for "segments"."""
    if sampling == "clip":
        return None
    if sampling == "segments":
        return SegmentSampler(frames, 1)
    raise SamplingError(f"sampling must be 'clip' or 'segments', got {sampling!r}")
