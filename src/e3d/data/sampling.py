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


# How K test clips are spread over a video (PySlowFast's get_start_end_idx; D = frames - clip span):
# - pyslowfast: clip k of K starts at floor(D * k / K), PySlowFast's default (X3D's Kinetics testing), so the
#   first clip starts at frame 0 and the last ends D / K before the end; K = 1 gives the first clip;
# - pyslowfast_offset: k * floor(D / (K - 1)), first and last at the ends, K = 1 the centre clip
#   (PySlowFast's DATA.USE_OFFSET_SAMPLING).
# Within a clip frames are `rate` apart (PySlowFast spreads its T frames over rate x T frames by linspace instead,
# less than one frame apart from ours at each position).
SPACINGS = ("pyslowfast", "pyslowfast_offset")
DEFAULT_SPACING = "pyslowfast"


def spread_clip_starts(num_frames: int, span: int, num_clips: int, spacing: str = DEFAULT_SPACING) -> list[int]:
    """First frame of each of `num_clips` test clips covering `span` frames (see SPACINGS above)."""
    if num_clips < 1:
        raise ValueError(f"num_clips must be >= 1, got {num_clips}")
    delta = max(0, num_frames - span)
    if spacing == "pyslowfast":
        return [(delta * k) // num_clips for k in range(num_clips)]
    if spacing == "pyslowfast_offset":
        if num_clips == 1:
            return [delta // 2]
        return [k * (delta // (num_clips - 1)) for k in range(num_clips)]
    raise SamplingError(f"clip spacing must be one of {', '.join(SPACINGS)}, got {spacing!r}")


def uniform_clip_indices(num_frames: int, clip_len: int, rate: int, num_clips: int,
                         spacing: str = DEFAULT_SPACING) -> list[np.ndarray]:
    """`num_clips` clips spread over the video by `spacing` (K-view testing)."""
    _check(num_frames, clip_len, rate)
    starts = spread_clip_starts(num_frames, clip_span(clip_len, rate), num_clips, spacing)
    return [_indices(s, num_frames, clip_len, rate) for s in starts]


def centre_clip_indices(num_frames: int, clip_len: int, rate: int) -> np.ndarray:
    """The one clip centred in the video (a TSN segment's test snippet)."""
    _check(num_frames, clip_len, rate)
    return _indices(max(0, num_frames - clip_span(clip_len, rate)) // 2, num_frames, clip_len, rate)


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
            snippet = centre_clip_indices(length, frames_per_segment, rate)
        out.append(np.asarray(snippet, dtype=np.int64) + start)
    return np.concatenate(out)


@dataclass(frozen=True)
class SegmentSampler:
    """TSN sampling (Wang et al. 2016; the usual Something-Something protocol of TSN/TSM): the clip's `frames`
    are K segments x F frames, so the clip always spans the whole video whatever its length. Test clip k of n
    takes, in every segment, the k-th of n snippets spread by `spacing` (n = 1: each segment's centre snippet, as TSN
    and PySlowFast's Something-Something loader test)."""

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

    def test_indices(self, num_frames: int, frames: int, rate: int, clips: int,
                     spacing: str = DEFAULT_SPACING) -> list[np.ndarray]:
        self._check_frames(frames)
        if clips == 1:
            return [segment_indices(num_frames, self.segments, self.frames_per_segment, rate, train=False)]
        per_segment = [[np.asarray(c, dtype=np.int64) + start
                        for c in uniform_clip_indices(end - start, self.frames_per_segment, rate, clips, spacing)]
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
