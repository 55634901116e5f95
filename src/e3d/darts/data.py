"""Search data: TSN segment clips from a frame source, and the split of the training videos into the two
disjoint halves of the bilevel optimisation (weights on one, architecture on the other)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from e3d.data.sampling import segment_indices
from e3d.errors import E3DError
from e3d.train.clips import crop, normalize, resize_short_side, to_tensor
from e3d.train.settings import TrainSettings


class SearchDataError(E3DError, ValueError):
    """Videos that cannot feed a search (too few, no labels, unreadable)."""


class FrameSource(Protocol):
    def read_clip(self, video_id: str, indices: Sequence[int]) -> np.ndarray:  # uint8 [T, H, W, 3]
        ...


def to_clip_tensor(frames: np.ndarray, size: int, *, train: bool, rng: np.random.Generator | None = None) -> torch.Tensor:
    """uint8 [T, H, W, 3] -> normalised float [3, T, size, size] with the training stage's pixel transforms
    (e3d.train.clips): short side resized to `size` when it differs, then a random (training) or centre (test)
    square crop, normalised with the training default mean/std (the search trains from scratch, so any fixed
    choice works; this one gives the searched and the retrained network the same pixels)."""
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise SearchDataError(f"expected frames [T, H, W, 3], got shape {frames.shape}")
    x = resize_short_side(to_tensor(frames), size)
    _, _, h, w = x.shape
    if train:
        top = int(rng.integers(0, h - size + 1))
        left = int(rng.integers(0, w - size + 1))
    else:
        top, left = (h - size) // 2, (w - size) // 2
    return normalize(crop(x, top, left, size), TrainSettings.mean, TrainSettings.std)


@dataclass(frozen=True)
class VideoRow:
    video_id: str
    label: int
    num_frames: int


class SegmentClips(Dataset):
    """(clip [3, K*F, size, size], label) per video. Random snippet offsets and crops are drawn from an rng seeded
    by (seed, epoch, index), so a sample is the same whichever DataLoader worker reads it."""

    def __init__(self, source: FrameSource, videos: Sequence[VideoRow], *, segments: int, frames_per_segment: int,
                 size: int, rate: int = 1, train: bool, seed: int = 0):
        self.source = source
        self.videos = list(videos)
        self.segments, self.frames_per_segment = segments, frames_per_segment
        self.size, self.rate, self.train, self.seed = size, rate, train, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, i: int):
        v = self.videos[i]
        rng = np.random.default_rng([self.seed, self.epoch, i]) if self.train else None
        idx = segment_indices(v.num_frames, self.segments, self.frames_per_segment, self.rate, train=self.train, rng=rng)
        frames = self.source.read_clip(v.video_id, idx)
        return to_clip_tensor(frames, self.size, train=self.train, rng=rng), v.label


def split_halves(videos: Sequence[VideoRow], portion: float, seed: int) -> tuple[list[VideoRow], list[VideoRow]]:
    """Disjoint (weights, architecture) halves of the training videos, stratified by label, deterministic by seed."""
    if not 0.0 < portion < 1.0:
        raise SearchDataError(f"train_portion must be strictly between 0 and 1, got {portion}")
    rng = np.random.default_rng(seed)
    by_label: dict[int, list[VideoRow]] = {}
    for v in sorted(videos, key=lambda v: v.video_id):
        by_label.setdefault(v.label, []).append(v)
    first, second = [], []
    for label in sorted(by_label):
        group = by_label[label]
        order = rng.permutation(len(group))
        cut = int(round(portion * len(group)))
        if len(group) >= 2:
            cut = min(max(cut, 1), len(group) - 1)  # both halves see every class that has two videos
        first += [group[k] for k in order[:cut]]
        second += [group[k] for k in order[cut:]]
    if not first or not second:
        raise SearchDataError(f"{len(videos)} training video(s) cannot be split into two non-empty halves")
    return first, second


@dataclass
class SearchData:
    train: Dataset  # weight half, training snippets
    val: Dataset  # architecture half, training snippets (drives the alpha steps)
    val_eval: Dataset  # architecture half, centre snippets (the per-epoch validation metrics)
    num_classes: int
    description: dict[str, Any]


def make_search_data(source: FrameSource, videos: Sequence[VideoRow], num_classes: int, *, segments: int,
                     frames_per_segment: int, size: int, rate: int, portion: float, seed: int,
                     description: dict[str, Any] | None = None) -> SearchData:
    first, second = split_halves(videos, portion, seed)
    common = dict(segments=segments, frames_per_segment=frames_per_segment, size=size, rate=rate)
    return SearchData(
        train=SegmentClips(source, first, train=True, seed=seed, **common),
        val=SegmentClips(source, second, train=True, seed=seed + 1, **common),
        val_eval=SegmentClips(source, second, train=False, seed=seed, **common),
        num_classes=num_classes,
        description={"train_videos": len(first), "val_videos": len(second), **(description or {})},
    )


def _subset(videos: list[VideoRow], limit: int, seed: int) -> list[VideoRow]:
    """A deterministic, label-stratified subset of at most `limit` videos (round-robin over classes)."""
    if not limit or limit >= len(videos):
        return videos
    rng = np.random.default_rng(seed)
    groups: dict[int, list[VideoRow]] = {}
    for v in videos:
        groups.setdefault(v.label, []).append(v)
    queues = [[g[k] for k in rng.permutation(len(g))] for _, g in sorted(groups.items())]
    out: list[VideoRow] = []
    while len(out) < limit:
        for q in queues:
            if q and len(out) < limit:
                out.append(q.pop())
    return out


def store_search_data(store_dir, config) -> SearchData:
    """The search data of a frame store: its `config.train_split` videos split into the two halves."""
    from e3d.data.store import FrameStore

    store = FrameStore(store_dir)
    table = store.videos
    missing = {"video_id", "label", "split", "num_frames"} - set(table.columns)
    if missing:
        raise SearchDataError(f"{store_dir}: frame store videos lack column(s) {sorted(missing)}")
    rows = table[(table.split == config.train_split) & (table.label >= 0)]
    if rows.empty:
        splits = sorted(table.split.unique().tolist())
        raise SearchDataError(f"{store_dir}: no labelled videos in split {config.train_split!r} (splits: {splits})")
    videos = [VideoRow(str(r.video_id), int(r.label), int(r.num_frames)) for r in rows.itertuples()]
    videos = _subset(sorted(videos, key=lambda v: v.video_id), config.max_videos, config.seed)
    return make_search_data(
        store, videos, store.num_classes, segments=config.segments, frames_per_segment=config.frames_per_segment,
        size=config.size, rate=config.sample_rate, portion=config.train_portion, seed=config.seed,
        description={"store": str(store_dir), "split": config.train_split, "num_classes": store.num_classes},
    )
