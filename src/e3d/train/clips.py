"""Training clips: which video each process reads at each step, and the random spatial augmentation.

Every random choice for a sample is drawn from a generator seeded by (seed, epoch, position in the epoch),
never from a global or per-worker RNG. So a sample's pixels do not depend on the number of processes, the
number of DataLoader workers or whether the run was resumed: 1 process with batch 2B sees exactly the
clips that 2 processes with batch B see, and a resumed run continues with the clips it would have read.
"""

from __future__ import annotations

from typing import Any, Iterator, Protocol

import numpy as np
import torch

from e3d.data.pixels import resize_short_side, to_tensor
from e3d.errors import UserError
from e3d.train.settings import TrainSettings


class ClipSource(Protocol):
    """What training and evaluation need from a frame store (e3d.data.store.FrameStore has it)."""

    videos: Any  # DataFrame: video_id, label, split, num_frames, ...
    num_classes: int

    def read_clip(self, video_id: str, indices: Any) -> np.ndarray:  # uint8 [T, H, W, 3]
        ...

    # Optional: `source_frame_size(video_id) -> (height, width)` of the frames a source's clips are a shrunk copy of
    # (e3d.data.cache.ClipCache), so the transforms resize them to the size those frames would give.


def frame_size_of(source: ClipSource) -> Any:
    """The source's `source_frame_size` (None for sources whose clips are the frames themselves)."""
    return getattr(source, "source_frame_size", None)


def split_rows(source: ClipSource, split: str) -> Any:
    videos = source.videos
    rows = videos[videos["split"] == split].reset_index(drop=True)
    if rows.empty:
        have = sorted(set(videos["split"]))
        raise UserError(f"the frame store has no videos in split {split!r} (splits present: {have})")
    return rows


# ---- pixel transforms on float tensors [3, T, H, W] (to_tensor, resize_short_side: e3d.data.pixels) ----
def crop(x: torch.Tensor, top: int, left: int, size: int) -> torch.Tensor:
    return x[:, :, top : top + size, left : left + size]


def normalize(x: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    m = torch.tensor(mean, dtype=x.dtype).view(3, 1, 1, 1)
    s = torch.tensor(std, dtype=x.dtype).view(3, 1, 1, 1)
    return (x - m) / s


def train_augment(clip: np.ndarray, s: TrainSettings, rng: np.random.Generator,
                  frame_size: tuple[int, int] | None = None) -> torch.Tensor:
    """Random short-side scale, random square crop, optional horizontal flip, normalisation. `frame_size`: the
    source frames' (height, width) when the clip is a shrunk copy of them (e3d.data.pixels.resize_short_side)."""
    x = to_tensor(clip)
    lo, hi = s.short_side_scale
    x = resize_short_side(x, max(s.crop, round(s.crop * rng.uniform(lo, hi))), frame_size)
    _, _, h, w = x.shape
    top = int(rng.integers(0, h - s.crop + 1))
    left = int(rng.integers(0, w - s.crop + 1))
    x = crop(x, top, left, s.crop)
    if s.flip and rng.random() < 0.5:
        x = x.flip(-1)
    return normalize(x, s.mean, s.std).contiguous()


def sample_rng(seed: int, epoch: int, position: int) -> np.random.Generator:
    return np.random.default_rng([seed, epoch, position])


class TrainClips(torch.utils.data.Dataset):
    """Indexed by (epoch, position, row) keys produced by EpochSampler."""

    def __init__(self, source: ClipSource, rows: Any, settings: TrainSettings, sampler: Any = None,
                 failures: Any = None):
        from e3d.data.sampling import random_clip_indices
        from e3d.train.failures import FailureLog

        # The run's sampler (model_source.run_sampler: the record's own, else the `sampling` setting) replaces the clip.
        self._pick = sampler.train_indices if sampler is not None else random_clip_indices
        self.source = source
        self._frame_size = frame_size_of(source)
        self.ids = rows["video_id"].astype(str).tolist()
        self.labels = rows["label"].astype(int).tolist()
        self.frames = rows["num_frames"].astype(int).tolist()
        self.s = settings
        self.failures = failures if failures is not None else FailureLog(None)
        self._bad: dict[int, str] = {}  # rows this process found unreadable: not decoded again

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, key: tuple[int, int, int]) -> tuple[torch.Tensor, int]:
        from e3d.data.video import ClipReadError
        from e3d.errors import E3DError
        from e3d.train.failures import replacement_rows

        epoch, position, row = key
        first = row
        for attempt, row in enumerate([row, *replacement_rows(len(self.ids), row, self.s.seed)]):
            # a replacement draws its clip from a generator of its own: the same whichever process reads it
            rng = sample_rng(self.s.seed, epoch, position) if attempt == 0 else \
                np.random.default_rng([self.s.seed, epoch, position, attempt])
            idx = self._pick(self.frames[row], self.s.frames, self.s.sample_rate, rng)
            reason = self._bad.get(row)
            if reason is None:
                try:
                    clip = self.source.read_clip(self.ids[row], idx)
                except ClipReadError as exc:
                    reason = self._bad[row] = exc.reason
                    path = exc.path
                else:
                    size = self._frame_size(self.ids[row]) if self._frame_size is not None else None
                    return train_augment(clip, self.s, rng, size), self.labels[row]
            else:
                path = getattr(self.source, "path_of", lambda v: v)(self.ids[row])
            self.failures.record(video_id=self.ids[row], path=str(path), reason=reason, epoch=epoch,
                                 position=position)
        raise E3DError(f"training clips: video {self.ids[first]!r} and its {attempt} replacements could not be "
                       f"read (last: {self.ids[row]}: {reason}); check the dataset's files")


class EpochSampler(torch.utils.data.Sampler):
    """This rank's keys for one epoch, from `start_step` on; every step uses `batch` keys per rank.

    The epoch's order is one permutation shared by all ranks; step s of rank r takes positions
    [s*B*W + r*B, s*B*W + (r+1)*B). Incomplete global batches at the epoch end are dropped so every rank
    makes the same number of steps.
    """

    def __init__(self, num_samples: int, batch: int, world: int, rank: int, seed: int, epoch: int, start_step: int = 0):
        self.n, self.batch, self.world, self.rank = num_samples, batch, world, rank
        self.seed, self.epoch, self.start_step = seed, epoch, start_step

    @staticmethod
    def steps_per_epoch(num_samples: int, batch: int, world: int) -> int:
        return num_samples // (batch * world)

    def __len__(self) -> int:
        return max(0, self.steps_per_epoch(self.n, self.batch, self.world) - self.start_step) * self.batch

    def __iter__(self) -> Iterator[tuple[int, int, int]]:
        perm = np.random.default_rng([self.seed, self.epoch, 0x5A3]).permutation(self.n)
        g = self.batch * self.world
        for step in range(self.start_step, self.steps_per_epoch(self.n, self.batch, self.world)):
            for j in range(self.batch):
                pos = step * g + self.rank * self.batch + j
                yield (self.epoch, pos, int(perm[pos]))
