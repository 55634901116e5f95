"""The decoded-clip cache: every frame of every video of a clip source (the frame store, or the videos with
`source: video`) decoded once, its short side resized, in one flat uint8 file that readers memory-map, so training
and evaluation on the CPU stop paying for JPEG decoding and Parquet row-group reads on every clip.

Layout of a cache directory (written by `write_cache` / `e3d cache`, read with ClipCache):
- frames.u8: the frames, video after video in the source's row order, each video [T, H, W, 3] uint8 in C order,
  no header. Frame sizes differ per video (aspect kept).
- manifest.json: the short side, class names, the source it was made from (kind, path, provenance), the size and
  blake2b digest of frames.u8, and one record per video (label, split, num_frames, height, width, byte `offset`,
  and the source frames' size).

A video's frames are the source's with the short side resized to `short_side` by the training transform's own
function (e3d.data.pixels.resize_short_side: bilinear, antialiased) and rounded to the nearest grey level; a video
whose frames are no larger is kept as the source holds it (never upscaled).

The one approximation: training from the source resizes each clip once (source -> s, s drawn from
[crop, ceil(crop x short_side_scale max)]); from the cache it resizes twice (source -> short_side -> s) with a
rounding to uint8 between. The output size is the same: the manifest keeps each video's source frame size and the
transforms size a cached clip from it (ClipCache.source_frame_size, e3d.data.pixels.resize_short_side), so crops
land on the same pixels. With `short_side` at least that largest s (the workflow derives it so; `e3d train` and
`e3d evaluate` refuse a cache smaller than their schedule or test crop needs), s == short_side reads the cached
frame unchanged (only the rounding, at most half a grey level, differs) and a smaller s is one more antialiased
downscale of an already smoothed frame. Measured against the store path on the default synthetic store (64 px
store, 40 px cache, every s from 32 to 40): 0.67 grey levels of 255 on average, 99th percentile 9, largest 39 (the
sharp edges of the shapes move by a fraction of a pixel), below the store's own JPEG error;
tests/test_data_cache.py checks the same on its tiny store.

Written atomically: the old manifest is removed first, frames.u8 is written under a temporary name and renamed,
then the manifest (naming the frames file's size and digest) is written the same way; a reader refuses a frames
file whose size is not the manifest's. The same source and short side give byte-identical frames.u8.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from e3d.artifacts import ArtifactError, Provenance, atomic_path, read_json, write_json
from e3d.data.settings import MIN_CACHE_SHORT_SIDE
from e3d.errors import UserError
from e3d.progress import Progress

CACHE_SCHEMA = "e3d.clip_cache"
CACHE_VERSION = 1
MANIFEST = "manifest.json"
FRAMES = "frames.u8"


class ClipCacheError(UserError, KeyError):
    """Unknown video or frame index outside the video."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


def source_short_side(source: Any) -> int:
    """The short side the source's frames were resized to (0: kept at the video's own size)."""
    settings = source.settings
    return int(settings["short_side"] if isinstance(settings, dict) else settings.short_side)


def source_description(source: Any) -> dict[str, Any]:
    """Where a cache's frames come from: the source's kind, path and provenance (what made its frames)."""
    from e3d.data.store import FrameStore

    if isinstance(source, FrameStore):
        return {"kind": "frames", "path": str(source.store_dir), "provenance": source.manifest.get("provenance")}
    path = getattr(source, "index_path", None)
    settings = getattr(source, "settings", None)
    if dataclasses.is_dataclass(settings):
        settings = dataclasses.asdict(settings)
    return {"kind": "video" if path is not None else type(source).__name__,
            "path": str(path) if path is not None else "", "settings": settings}


def shrink(clip: np.ndarray, short_side: int) -> np.ndarray:
    """uint8 [T, H, W, 3] with the short side resized to `short_side` by the training transform's resize, or the
    clip itself when its short side is no larger."""
    from e3d.data.pixels import resize_short_side, to_tensor, to_uint8

    if min(clip.shape[1:3]) <= short_side:
        return np.ascontiguousarray(clip)
    return to_uint8(resize_short_side(to_tensor(clip), short_side))


def write_cache(source: Any, out_dir: str | Path, short_side: int, *, threads: int = 1, provenance_config: Any = None,
                code_modules: tuple[str, ...] = (), where: str = "", progress: bool = True) -> dict[str, Any]:
    """Decode every video of `source` (a FrameStore or VideoSource), shrink it to `short_side` and write the cache
    into `out_dir`; return its manifest. `threads` > 1 decodes in that many single-threaded worker processes (the
    file is the same: videos are written in the source's order). `where` names the source in errors."""
    where = where or str(getattr(source, "store_dir", None) or getattr(source, "index_path", "the source"))
    if short_side < MIN_CACHE_SHORT_SIDE:
        raise UserError(f"cache: short side must be >= {MIN_CACHE_SHORT_SIDE}, got {short_side}")
    have = source_short_side(source)
    if have and short_side > have:
        raise UserError(f"{where}: cache short side {short_side} is larger than this source's frames "
                        f"({have} px): a cache never upscales; use --short-side {have} or less")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # A manifest must never describe a frames file it was not written with: the old one goes first.
    (out_dir / MANIFEST).unlink(missing_ok=True)
    videos = source.videos
    jobs = [(str(v), int(n)) for v, n in zip(videos.video_id, videos.num_frames)]
    labels = {str(r.video_id): r for r in videos.itertuples(index=False)}
    records: list[dict[str, Any]] = []
    failed: list[dict[str, str]] = []
    digest = hashlib.blake2b(digest_size=16)
    offset, frames_written, resized = 0, 0, 0
    with atomic_path(out_dir / FRAMES) as tmp, open(tmp, "wb") as fh, \
            Progress(total=len(jobs), desc="cache", unit="videos", stream=None if progress else io.StringIO()) as bar, \
            _shrunk_videos(source, jobs, short_side, threads) as results:
        for vid, frames, source_size, error in results:
            if error is not None:  # a video the video source cannot read is left out, as extract does
                failed.append({"video_id": vid, **error})
                bar.update(1, note=f"{vid} failed")
                continue
            row = labels[vid]
            data = memoryview(frames).cast("B")
            fh.write(data)
            digest.update(data)
            t, h, w = frames.shape[:3]
            records.append({"video_id": vid, "label": int(row.label),
                            "label_name": str(getattr(row, "label_name", row.label)), "split": str(row.split),
                            "num_frames": int(t), "height": int(h), "width": int(w), "offset": offset,
                            "source_height": int(source_size[0]), "source_width": int(source_size[1])})
            offset += len(data)
            frames_written += t
            resized += frames.shape[1:3] != tuple(source_size)
            bar.update(1, note=vid)
        if not records:
            raise UserError(f"{where}: no video could be read for the cache ({len(failed)} failed; first: "
                            f"{failed[0]['path'] + ': ' + failed[0]['reason'] if failed else 'the source is empty'})")
    manifest = {
        "settings": {"short_side": int(short_side)},
        "source": source_description(source),
        "class_names": [str(c) for c in source.class_names],
        "num_classes": int(source.num_classes),
        "frames_file": FRAMES,
        "bytes": offset,
        "blake2b": digest.hexdigest(),
        "num_videos": len(records),
        "num_frames": frames_written,
        "resized_videos": int(resized),
        # columnar, as the frame store's manifest: compact for hundreds of thousands of videos
        "videos": {k: [r[k] for r in records] for k in records[0]},
        "failed": failed,
    }
    write_json(out_dir / MANIFEST, manifest, Provenance.make(CACHE_SCHEMA, CACHE_VERSION,
                                                             provenance_config, code_modules))
    return manifest


def _read_shrunk(source: Any, video_id: str, n: int, short_side: int):
    """(video_id, frames, the source frames' (height, width), None), or (video_id, None, None, {path, reason}) for a
    video that cannot be read."""
    from e3d.data.video import ClipReadError

    try:
        clip = source.read_clip(video_id, range(n))
    except ClipReadError as exc:
        return video_id, None, None, {"path": exc.path, "reason": exc.reason}
    return video_id, shrink(clip, short_side), clip.shape[1:3], None


_WORKER: dict[str, Any] = {}


def _init_worker(source: Any, short_side: int) -> None:
    import torch

    torch.set_num_threads(1)  # the processes are the parallelism
    _WORKER.update(source=source, short_side=short_side)


def _worker(job: tuple[str, int]):
    return _read_shrunk(_WORKER["source"], job[0], job[1], _WORKER["short_side"])


class _shrunk_videos:
    """The jobs' shrunk videos in job order: in-process for one thread, else a pool of single-threaded workers."""

    def __init__(self, source: Any, jobs: list[tuple[str, int]], short_side: int, threads: int):
        self.source, self.jobs, self.short_side, self.threads = source, jobs, short_side, max(1, threads)
        self.pool = None

    def __enter__(self):
        if self.threads == 1 or len(self.jobs) <= 1:
            return (_read_shrunk(self.source, v, n, self.short_side) for v, n in self.jobs)
        import multiprocessing as mp

        ctx = mp.get_context("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")
        self.pool = ctx.Pool(self.threads, initializer=_init_worker, initargs=(self.source, self.short_side))
        # chunksize 1 keeps at most a few decoded videos in flight (memory stays bounded)
        return self.pool.imap(_worker, self.jobs, chunksize=1)

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()


class ClipCache:
    """A ClipSource (e3d.train.clips) over a cache directory: `read_clip(video_id, indices)` copies the requested
    frames out of the memory-mapped frames file. The map is opened lazily per process and never pickled, so a cache
    built in the parent can be handed to DataLoader workers (forked or spawned)."""

    def __init__(self, cache_dir: str | Path):
        import pandas as pd

        self.cache_dir = Path(cache_dir)
        self.manifest_path = self.cache_dir / MANIFEST
        self.manifest = read_json(self.manifest_path, schema=CACHE_SCHEMA, max_version=CACHE_VERSION)
        self.short_side = int(self.manifest["settings"]["short_side"])
        self.class_names: list[str] = list(self.manifest["class_names"])
        self.num_classes: int = int(self.manifest["num_classes"])
        self.frames_path = self.cache_dir / self.manifest["frames_file"]
        try:
            size = self.frames_path.stat().st_size
        except FileNotFoundError:
            raise ArtifactError(f"{self.frames_path}: the cache's frames file does not exist; rerun `e3d cache`") \
                from None
        if size != int(self.manifest["bytes"]):
            raise ArtifactError(f"{self.frames_path}: {size} bytes, but {self.manifest_path} describes "
                                f"{self.manifest['bytes']}: not the frames it was written with; rerun `e3d cache`")
        self.videos = pd.DataFrame(self.manifest["videos"])
        self._row = {vid: i for i, vid in enumerate(self.videos.video_id)}
        self._offset = self.videos.offset.to_numpy(np.int64)
        self._shape = self.videos[["num_frames", "height", "width"]].to_numpy(np.int64)
        self._source_size = self.videos[["source_height", "source_width"]].to_numpy(np.int64)
        self._frames: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.videos)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_frames"] = None  # the map is reopened in each process, never pickled with its pages
        return state

    @property
    def source_key(self) -> dict[str, Any]:
        """What makes these pixels differ from the source's (part of a training run's identity: a state written
        from the store is not resumed on the cache, nor from a cache of another short side)."""
        return {"clip_cache_short_side": self.short_side}

    def covers(self, short_side: int) -> bool:
        """Whether a reader that resizes the short side to at most `short_side` gets what it would from the source
        (up to the one extra resize): the cache holds that size, or no video was shrunk at all."""
        return short_side <= self.short_side or int(self.manifest["resized_videos"]) == 0

    def require(self, short_side: int, why: str) -> None:
        if not self.covers(short_side):
            raise UserError(f"{self.manifest_path}: frames cached at short side {self.short_side}, but {why} "
                            f"resizes to {short_side}: rebuild the cache with --short-side {short_side} or more "
                            f"(config: data.datasets.NAME.cache.short_side), or read the frame store")

    def _index(self, video_id: str) -> int:
        try:
            return self._row[video_id]
        except KeyError:
            raise ClipCacheError(f"{self.manifest_path}: no video {video_id!r} in this cache") from None

    def num_frames(self, video_id: str) -> int:
        return int(self._shape[self._index(video_id), 0])

    def source_frame_size(self, video_id: str) -> tuple[int, int]:
        """(height, width) of the source's frames this video's were shrunk from: the transforms resize a cached clip
        to the size they would give the source's (e3d.data.pixels.resize_short_side), so crops land alike."""
        h, w = self._source_size[self._index(video_id)]
        return int(h), int(w)

    def read_clip(self, video_id: str, indices: Sequence[int]) -> np.ndarray:
        """uint8 [T, H, W, 3] for the given frame indices (repeats allowed), as FrameStore.read_clip."""
        i = self._index(video_id)
        n, h, w = (int(v) for v in self._shape[i])
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            bad = int(idx.min() if idx.min() < 0 else idx.max())
            raise ClipCacheError(f"{video_id}: frame index {bad} outside [0, {n})")
        if self._frames is None:
            # a plain ndarray over the map (its base keeps the map open): slices and copies are plain arrays
            self._frames = np.memmap(self.frames_path, dtype=np.uint8, mode="r").view(np.ndarray)
        start = int(self._offset[i])
        video = self._frames[start:start + n * h * w * 3].reshape(n, h, w, 3)
        return video[idx]  # fancy indexing copies only the requested frames
