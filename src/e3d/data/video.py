"""Clips read straight from the raw videos (the per-dataset setting `source: video`), frame for frame what the
frame store (e3d.data.extract) would hold, without writing it.

`VideoSource(index_path, settings).read_clip(video_id, indices)` takes the same indices as FrameStore.read_clip
(the same clip sampler, the same frame numbering) and returns the same frames before JPEG coding:
- frame k of the store is the `source_frame(k)`-th frame the decoder outputs from the start (the extract
  stage's frame-rate resampling), resized with the same swscale call (AREA to the same short side);
- a decoded frame's number comes from its pts: the video's packets are demuxed once per process (cheap, nothing
  is decoded) and the sorted pts give frame i its presentation time, exact for B-frames, open GOPs and any
  frame rate (no arithmetic on the average rate);
- the reader seeks to the last keyframe at or before the first wanted frame, decodes forward, converts only
  the wanted frames, and seeks again when the next wanted frame lies beyond a later keyframe (TSN segments).
  If a seek lands past the wanted frame, it falls back to an earlier keyframe and finally to the start.

The index is the one source of frame counts and splits; a video that cannot be read raises ClipReadError
(naming the file and why), which training turns into a recorded replacement (e3d.train.failures).
Containers are opened per read and closed before it returns, and each decoder runs with one thread: nothing
is held across a DataLoader fork and no FFmpeg thread pool lives in a worker (a known cause of loader hangs).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from e3d.data.extract import ExtractSettings, folder_frame, kept_frames, resized_size, shard_of, source_frame
from e3d.data.probe import list_frame_files
from e3d.errors import E3DError

SOURCES = ("frames", "video")  # the values of the per-dataset `source` setting
_TABLES_PER_PROCESS = 4096  # frame tables cached per process (a few kB each)


class ClipReadError(E3DError):
    """A clip could not be read from a video (missing, truncated, undecodable, fewer frames than indexed)."""

    def __init__(self, video_id: str, path: str | None = None, reason: str | None = None):
        if path is None:  # rebuilt from its message alone (a DataLoader worker re-raises it so)
            super().__init__(video_id)
            self.video_id, self.path, self.reason = "", "", video_id
            return
        super().__init__(f"{path}: {reason}")
        self.video_id, self.path, self.reason = video_id, path, reason


@dataclass(frozen=True)
class FrameTable:
    """Presentation timestamps of a video's frames in order (frame i has pts[i]) and, for seeking, the pts and
    dts of its keyframes."""

    pts: np.ndarray
    key_pts: np.ndarray
    key_dts: np.ndarray

    def frame_of(self) -> dict[int, int]:
        return {int(p): i for i, p in enumerate(self.pts)}


def frame_table(container, stream) -> FrameTable | None:
    """Demux every packet (no decoding). None when timestamps cannot number the frames (missing or repeated
    pts, as in some AVI files): the caller then decodes from the start and counts, as extraction does."""
    pts, kpts, kdts = [], [], []
    for packet in container.demux(stream):
        if packet.size == 0:
            continue
        if packet.pts is None:
            return None
        pts.append(packet.pts)
        if packet.is_keyframe:
            kpts.append(packet.pts)
            kdts.append(packet.dts if packet.dts is not None else packet.pts)
    table = np.sort(np.asarray(pts, dtype=np.int64))
    if table.size == 0 or np.any(np.diff(table) == 0):
        return None
    order = np.argsort(np.asarray(kpts, dtype=np.int64), kind="stable")
    return FrameTable(table, np.asarray(kpts, dtype=np.int64)[order], np.asarray(kdts, dtype=np.int64)[order])


def open_video(path: str, threads: int = 1):
    import av

    container = av.open(path, mode="r", metadata_errors="ignore")
    if not container.streams.video:
        container.close()
        raise ValueError("no video stream")
    stream = container.streams.video[0]
    # One decoder thread by default: DataLoader workers already decode in parallel, and FFmpeg's frame threads
    # in forked workers are a known cause of hangs. SLICE with one thread spawns none.
    stream.thread_type = "AUTO" if threads > 1 else "SLICE"
    stream.codec_context.thread_count = max(1, threads)
    return container, stream


class _SeekMiss(Exception):
    """Seeking could not reach a wanted frame (index entries that do not match the packets): decode from the
    start instead."""


def decode_frames(container, stream, table: FrameTable, wanted: Sequence[int],
                  short_side: int) -> dict[int, np.ndarray]:
    """RGB frames (resized as extraction does) of the sorted distinct decoded-frame numbers `wanted`, by seeking
    to keyframes. Raises _SeekMiss when a seek cannot reach a wanted frame."""
    out: dict[int, np.ndarray] = {}
    number = table.frame_of()
    pending = list(wanted)
    size = None
    while pending:
        target = int(table.pts[pending[0]])
        keys = table.key_dts[table.key_pts <= target]
        before = len(pending)
        # the last keyframe at or before the target; if that lands past it, the one before
        for seek_to in keys[::-1][:2].tolist():
            container.seek(int(seek_to), backward=True, any_frame=False, stream=stream)
            pending, size = _decode_run(container, stream, table, number, pending, short_side, out, size)
            if len(pending) < before:
                break
        else:
            raise _SeekMiss(f"no seek reached frame {pending[0]}")
    return out


def _decode_run(container, stream, table, number, pending, short_side, out, size):
    """Decode forward from the current position and keep the wanted frames; stop when every frame is read,
    when the decoder passed a wanted frame without producing it, or when the next wanted frame is better reached
    by seeking to a later keyframe. Returns (frames still pending, output size).

    Pictures that are neither wanted nor referenced by others (most B-frames) are not decoded at all: the decoder
    is told to skip non-reference pictures for every packet whose pts is not wanted (about half of an x264
    stream's frames; the wanted pictures come out bit-identical, the skipped ones were never returned)."""
    pending = list(pending)
    wanted_pts = {int(table.pts[i]) for i in pending}
    ctx = stream.codec_context
    reformatter = None
    try:
        for packet in container.demux(stream):
            ctx.skip_frame = "NONREF" if packet.pts is not None and int(packet.pts) not in wanted_pts else "DEFAULT"
            for frame in ctx.decode(packet if packet.size else None):
                i = number.get(int(frame.pts)) if frame.pts is not None else None
                if i is None or i < pending[0]:
                    continue  # before the wanted frame (or an open GOP's leading frame)
                if i > pending[0]:
                    return pending, size  # landed or ran past it
                if size is None:
                    size = resized_size(frame.width, frame.height, short_side)
                # the extract stage's conversion (swscale RGB + AREA resize in one pass; the same pixels as its
                # frame.to_ndarray call), through one reformatter per read: its scaler context is reused
                if reformatter is None:
                    from av.video.reformatter import VideoReformatter

                    reformatter = VideoReformatter()
                out[i] = reformatter.reformat(frame, width=size[0], height=size[1], format="rgb24",
                                              interpolation="AREA").to_ndarray()
                pending.pop(0)
                if not pending:
                    return pending, size
                nxt = int(table.pts[pending[0]])
                if np.any((table.key_pts > frame.pts) & (table.key_pts <= nxt)):
                    return pending, size  # a keyframe lies between: seeking there beats decoding the gap
    finally:
        ctx.skip_frame = "DEFAULT"
    return pending, size


def _decode_sequential(container, stream, wanted, short_side, out) -> None:
    want = set(int(i) for i in wanted)
    last = max(want) if want else -1
    size = None
    for i, frame in enumerate(container.decode(stream)):
        if i > last:
            break
        if i in want:
            if size is None:
                size = resized_size(frame.width, frame.height, short_side)
            out[i] = frame.to_ndarray(width=size[0], height=size[1], format="rgb24", interpolation="AREA")
    if len(out) < len(want):
        raise ValueError(f"the decoder produced {len(out)} of the {len(want)} wanted frames (frames up to "
                         f"{last} asked); the file may be truncated or corrupt")


def read_folder_frames(folder: Path, wanted: Sequence[int], short_side: int) -> dict[int, np.ndarray]:
    """Frames of a folder of JPEGs (Something-Something V1), converted as extraction converts them."""
    files = list_frame_files(folder)
    out = {}
    for i in wanted:
        if i >= len(files):
            raise ValueError(f"frame {i} asked, the folder holds {len(files)} frames")
        out[i] = folder_frame(files[i], short_side)
    return out


class VideoSource:
    """A ClipSource (e3d.train.clips) over the usable videos of an index, read with the extract settings of the
    dataset. Rows are in the frame store's order (shard, then id), so that a training run with the same seed
    picks the same (video, indices) from either source."""

    def __init__(self, index_path: str | Path, settings: ExtractSettings | None = None, *,
                 root: str | Path | None = None, threads: int = 1):
        import pandas as pd

        from e3d.data.index import read_index

        self.settings = settings or ExtractSettings()
        self.settings.validate()
        self.index_path = Path(index_path)
        df, class_names, recorded_root = read_index(self.index_path)
        self.root = Path(root) if root is not None else recorded_root
        self.class_names: list[str] = list(class_names)
        self.num_classes = len(self.class_names)
        self.threads = threads
        ok = df[df.status == "ok"].copy()
        s = self.settings
        ok["source_frames"] = ok.num_frames.astype(int)
        ok["num_frames"] = [kept_frames(int(n), float(f), s.fps) for n, f in zip(ok.num_frames, ok.fps)]
        short = ok.num_frames < s.min_frames
        # as the extract stage drops them (never a clip shorter than min_frames)
        self.excluded = [{"video_id": r.video_id, "path": r.path,
                          "reason": f"shorter than one clip after resampling: {r.num_frames} frames"}
                         for r in ok[short].itertuples(index=False)]
        ok = ok[~short]
        ok["shard"] = [shard_of(v, s.shards) for v in ok.video_id]
        ok = ok.sort_values(["shard", "video_id"], kind="stable").reset_index(drop=True)
        if ok.empty:
            raise E3DError(f"{self.index_path}: no usable video for the video source")
        sizes = [resized_size(int(w), int(h), s.short_side) for w, h in zip(ok.width, ok.height)]
        self.videos = pd.DataFrame({
            "video_id": ok.video_id.astype(str), "label": ok.label.astype(int), "label_name": ok.label_name,
            "split": ok.split, "num_frames": ok.num_frames.astype(int),
            "fps": [float(s.fps) if s.fps > 0 else float(f) for f in ok.fps],
            "height": [h for _, h in sizes], "width": [w for w, _ in sizes],
            "source_path": ok.path, "source_frames": ok.source_frames, "source_fps": ok.fps.astype(float),
        })
        self._row = {vid: i for i, vid in enumerate(self.videos.video_id)}
        self._tables: OrderedDict[str, FrameTable | None] = OrderedDict()

    def __len__(self) -> int:
        return len(self.videos)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_tables"] = OrderedDict()  # rebuilt per process
        return state

    def path_of(self, video_id: str) -> str:
        return str(self.root / self.videos.source_path.iloc[self._index(video_id)])

    def num_frames(self, video_id: str) -> int:
        return int(self.videos.num_frames.iloc[self._index(video_id)])

    def _index(self, video_id: str) -> int:
        try:
            return self._row[video_id]
        except KeyError:
            raise ClipReadError(video_id, str(self.index_path), f"no usable video {video_id!r} in this index") from None

    def read_clip(self, video_id: str, indices: Sequence[int]) -> np.ndarray:
        """uint8 [T, H, W, 3] for the given frame indices (repeats allowed), as FrameStore.read_clip."""
        i = self._index(video_id)
        row = self.videos.iloc[i]
        n = int(row.num_frames)
        indices = [int(x) for x in indices]
        if not indices:
            return np.empty((0, int(row.height), int(row.width), 3), np.uint8)
        bad = [x for x in indices if x < 0 or x >= n]
        if bad:
            raise ClipReadError(video_id, self.path_of(video_id), f"frame index {bad[0]} outside [0, {n})")
        src = {k: source_frame(k, float(row.source_fps), self.settings.fps) for k in set(indices)}
        wanted = sorted(set(src.values()))
        path = self.path_of(video_id)
        try:
            if os.path.isdir(path):
                frames = read_folder_frames(Path(path), wanted, self.settings.short_side)
            else:
                frames = self._decode(path, wanted)
        except ClipReadError:
            raise
        except Exception as exc:  # noqa: BLE001 - every decoder failure becomes one recorded, named error
            detail = str(exc).strip()[:200] or type(exc).__name__
            raise ClipReadError(video_id, path, f"decode failed: {detail}") from exc
        return np.stack([frames[src[k]] for k in indices])

    def _decode(self, path: str, wanted: list[int]) -> dict[int, np.ndarray]:
        container, stream = open_video(path, self.threads)
        with container:
            table = self._table(path, container, stream)
            if table is not None:
                if wanted[-1] >= len(table.pts):
                    raise ValueError(f"frame {wanted[-1]} asked, the file holds {len(table.pts)} frames")
                try:
                    return decode_frames(container, stream, table, wanted, self.settings.short_side)
                except _SeekMiss:
                    pass
        # no usable timestamps, or seeking missed: number the frames by decoding from the start, as extraction does
        container, stream = open_video(path, self.threads)
        with container:
            out: dict[int, np.ndarray] = {}
            _decode_sequential(container, stream, wanted, self.settings.short_side, out)
            return out

    def _table(self, path: str, container, stream) -> FrameTable | None:
        if path in self._tables:
            self._tables.move_to_end(path)
            return self._tables[path]
        table = frame_table(container, stream)
        self._tables[path] = table
        if len(self._tables) > _TABLES_PER_PROCESS:
            self._tables.popitem(last=False)
        return table


def open_source(kind: str, path: str | Path, settings: ExtractSettings | None = None, **kwargs):
    """The clip source a dataset's `source` setting names: the frame store directory for "frames", the index
    parquet (with the dataset's extract settings) for "video"."""
    if kind == "frames":
        from e3d.data.store import FrameStore

        return FrameStore(path)
    if kind == "video":
        return VideoSource(path, settings, **kwargs)
    raise E3DError(f"source must be one of {', '.join(SOURCES)}, got {kind!r}")
