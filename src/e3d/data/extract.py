"""Frame extraction: decode each usable video once and write a sharded store of resized JPEG frames.

Layout of a store directory:
- shard-00000.parquet ... : rows (video_id, frame, jpeg). Each video's frames are contiguous and split
  into row groups of at most `group_size` frames, so a clip reader reads only the row groups that hold
  the frames it asks for.
- manifest.json: settings, class names, shard files, and one record per stored video (label, split,
  frame count, fps, size, shard, first row group) plus the videos that failed to decode.

A video's shard is a stable hash of its id, and videos are written in id order, so the same index and
settings always give byte-identical shards, whatever the number of worker processes.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import multiprocessing as mp
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from e3d.artifacts import PROVENANCE_KEY, Provenance, atomic_path, write_json
from e3d.data.probe import list_frame_files
from e3d.errors import UserError
from e3d.progress import Progress
from e3d.settingspec import check_fields, setting

STORE_SCHEMA = "e3d.frame_store"
STORE_VERSION = 1
SHARD_SCHEMA = "e3d.frame_shard"


# The ExtractSettings fields a dataset's config sets (data.datasets.NAME.extract); min_frames is the command's own.
CONFIG_KEYS = ("short_side", "fps", "shards", "quality", "group_size")
MIN_SHORT_SIDE = 8  # a resized short side below this holds no clip the models can take


@dataclass(frozen=True)
class ExtractSettings:
    """`e3d extract`'s settings (also how `--source video` reads frames), declared once: the config's
    `data.datasets.NAME.extract` schema (workflow/schemas/generated/data_dataset.schema.yaml, `python -m
    e3d.schemagen --write`) and the `e3d extract` flags come from these fields; __post_init__ checks their bounds."""

    short_side: int = setting(64, minimum=0, doc=f"resize the short side to this (0 keeps; else >= {MIN_SHORT_SIDE})")
    # 0, not 0.0: the config's default as it always was (the flag still parses as a float)
    fps: float = setting(0, minimum=0, doc="resample to this frame rate (0 keeps)")
    shards: int = setting(4, minimum=1, doc="Parquet shard files (a video's shard is a hash of its id)")
    quality: int = setting(85, minimum=1, maximum=100, doc="JPEG quality")
    group_size: int = setting(32, minimum=1, doc="frames per Parquet row group")
    min_frames: int = setting(8, minimum=1, doc="videos that decode to fewer frames are dropped (as failed)")

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        check_fields(self, UserError, "extract: ")
        if 0 < self.short_side < MIN_SHORT_SIDE:
            raise UserError(f"extract: short_side must be 0 (keep) or >= {MIN_SHORT_SIDE}, got {self.short_side}")


def shard_of(video_id: str, shards: int) -> int:
    return int.from_bytes(hashlib.sha1(video_id.encode()).digest()[:8], "big") % shards


def shard_name(i: int) -> str:
    return f"shard-{i:05d}.parquet"


def resized_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    if short_side <= 0:
        return width, height
    if width <= height:
        return short_side, max(1, int(round(height * short_side / width)))
    return max(1, int(round(width * short_side / height))), short_side


def _keep_counts(src_fps: float, fps: float) -> Iterator[int]:
    """How many times each decoded frame is kept when resampling src_fps -> fps (nearest earlier frame)."""
    if fps <= 0 or src_fps <= 0:
        while True:
            yield 1
    i = 0
    while True:
        # target frames k with floor(k * src / fps) == i
        lo = math.ceil(i * fps / src_fps - 1e-9)
        hi = math.ceil((i + 1) * fps / src_fps - 1e-9)
        yield max(0, hi - lo)
        i += 1


def kept_frames(num_source: int, src_fps: float, fps: float) -> int:
    """Frames the store holds for `num_source` decoded frames: the sum of _keep_counts over them."""
    if fps <= 0 or src_fps <= 0:
        return num_source
    return max(0, math.ceil(num_source * fps / src_fps - 1e-9))


def source_frame(k: int, src_fps: float, fps: float) -> int:
    """The decoded frame that stored frame `k` is a copy of (the inverse of _keep_counts), so that a reader of
    the raw video (e3d.data.video) maps the same index to the same frame."""
    if fps <= 0 or src_fps <= 0:
        return k
    i = max(0, int(k * src_fps // fps))
    # float rounding can put the estimate one frame off; _keep_counts' own bounds decide
    while i > 0 and math.ceil(i * fps / src_fps - 1e-9) > k:
        i -= 1
    while math.ceil((i + 1) * fps / src_fps - 1e-9) <= k:
        i += 1
    return i


@dataclass
class Job:
    video_id: str
    path: str  # absolute
    src_fps: float


@dataclass
class Result:
    video_id: str
    jpegs: list[bytes]
    width: int
    height: int
    fps: float
    error: str = ""


def _encode_jpeg(rgb: np.ndarray, quality: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    # 4:2:0 subsampling, no optimisation pass: deterministic and fast to decode.
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality, subsampling=2)
    return buf.getvalue()


def decode_video(job: Job, settings: ExtractSettings, threads: int = 1) -> Result:
    """Decode one video (file or frame folder), resize, resample and JPEG-encode its frames."""
    try:
        if os.path.isdir(job.path):
            frames = _frames_from_folder(Path(job.path), settings)
        else:
            frames = _frames_from_container(job.path, settings, threads)
        jpegs: list[bytes] = []
        width = height = 0
        keep = _keep_counts(job.src_fps, settings.fps)
        for rgb in frames:
            n = next(keep)
            if n == 0:
                continue
            height, width = rgb.shape[:2]
            data = _encode_jpeg(rgb, settings.quality)
            jpegs.extend([data] * n)
        fps = settings.fps if settings.fps > 0 else job.src_fps
        return Result(job.video_id, jpegs, width, height, float(fps))
    except Exception as exc:  # noqa: BLE001 - a bad video is recorded, never fatal for the job
        return Result(job.video_id, [], 0, 0, 0.0, error=f"decode failed: {str(exc).strip()[:200] or type(exc).__name__}")


def _frames_from_container(path: str, settings: ExtractSettings, threads: int) -> Iterator[np.ndarray]:
    import av

    with av.open(path, mode="r", metadata_errors="ignore") as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO" if threads > 1 else "SLICE"
        stream.codec_context.thread_count = max(1, threads)
        size = None
        for frame in container.decode(stream):
            if size is None:
                size = resized_size(frame.width, frame.height, settings.short_side)
            # swscale converts to RGB and resizes in one pass (area averaging when shrinking).
            yield frame.to_ndarray(width=size[0], height=size[1], format="rgb24", interpolation="AREA")


def folder_frame(path: Path, short_side: int) -> np.ndarray:
    """One frame of a JPEG-folder video (Something-Something V1) as the store holds it: RGB, BOX-resized."""
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")
        size = resized_size(im.width, im.height, short_side)
        if size != im.size:
            im = im.resize(size, Image.BOX)
        return np.asarray(im)


def _frames_from_folder(folder: Path, settings: ExtractSettings) -> Iterator[np.ndarray]:
    for f in list_frame_files(folder):
        yield folder_frame(f, settings.short_side)


def _worker(args: tuple[Job, ExtractSettings]) -> Result:
    job, settings = args
    return decode_video(job, settings, threads=1)


def extract(index, root: Path, out_dir: Path, settings: ExtractSettings, class_names: list[str],
            threads: int = 1, provenance_config: Any = None, code_modules: tuple[str, ...] = (),
            dataset: str = "") -> dict[str, Any]:
    """Write the frame store for the usable rows of `index` (a DataFrame) into `out_dir`; return the manifest."""
    settings.validate()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ok = index[index.status == "ok"].copy()
    ok["shard"] = [shard_of(v, settings.shards) for v in ok.video_id]
    ok = ok.sort_values(["shard", "video_id"], kind="stable")
    meta = {r.video_id: r for r in ok.itertuples(index=False)}
    jobs = [Job(r.video_id, str(Path(root) / r.path), float(r.fps)) for r in ok.itertuples(index=False)]
    prov = Provenance.make(SHARD_SCHEMA, STORE_VERSION, provenance_config, code_modules)

    videos: list[dict[str, Any]] = []
    failed: list[dict[str, str]] = []
    frames_written = 0
    with Progress(total=len(jobs), desc="extract", unit="videos") as bar, _results(jobs, settings, threads) as results:
        results = iter(results)
        for shard in range(settings.shards):
            writer = _ShardWriter(out_dir / shard_name(shard), prov)
            with writer:
                for _ in range(int((ok.shard == shard).sum())):
                    res = next(results)
                    bar.update(1, note=res.video_id)
                    row = meta[res.video_id]
                    if res.error or len(res.jpegs) < settings.min_frames:
                        reason = res.error or f"shorter than one clip after decoding: {len(res.jpegs)} frames"
                        failed.append({"video_id": res.video_id, "path": row.path, "reason": reason})
                        continue
                    first_group = writer.add_video(res.video_id, res.jpegs, settings.group_size)
                    frames_written += len(res.jpegs)
                    videos.append({
                        "video_id": res.video_id, "label": int(row.label), "label_name": row.label_name,
                        "split": row.split, "num_frames": len(res.jpegs), "fps": res.fps,
                        "height": res.height, "width": res.width, "shard": shard, "row_group": first_group,
                        "source_path": row.path, "source_frames": int(row.num_frames),
                    })
    if not videos:
        raise UserError(f"extract {dataset or out_dir}: no video could be decoded "
                        f"({len(failed)} failed; first: {failed[0]['path'] if failed else '-'}: "
                        f"{failed[0]['reason'] if failed else 'the index has no usable rows'})")
    manifest = {
        "dataset": dataset,
        "settings": asdict(settings),
        "class_names": list(class_names),
        "num_classes": len(class_names),
        "shards": [shard_name(i) for i in range(settings.shards)],
        "num_videos": len(videos),
        "num_frames": frames_written,
        "bytes": int(sum((out_dir / shard_name(i)).stat().st_size for i in range(settings.shards))),
        # columnar: compact for hundreds of thousands of videos
        "videos": {k: [v[k] for v in videos] for k in videos[0]},
        "failed": failed,
    }
    write_json(out_dir / "manifest.json", manifest,
               Provenance.make(STORE_SCHEMA, STORE_VERSION, provenance_config, code_modules))
    return manifest


class _results:
    """Decoded videos in job order: in-process for one thread, else a pool of single-threaded workers."""

    def __init__(self, jobs: list[Job], settings: ExtractSettings, threads: int):
        self.jobs, self.settings, self.threads = jobs, settings, max(1, threads)
        self.pool = None

    def __enter__(self) -> Iterator[Result]:
        if self.threads == 1 or len(self.jobs) <= 1:
            return (decode_video(j, self.settings, threads=1) for j in self.jobs)
        ctx = mp.get_context("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")
        self.pool = ctx.Pool(self.threads)
        # chunksize 1 keeps at most a few decoded videos in flight (memory stays bounded)
        return self.pool.imap(_worker, [(j, self.settings) for j in self.jobs], chunksize=1)

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()


class _ShardWriter:
    """One shard, written to a temporary name and renamed on success (like every artifact)."""

    def __init__(self, path: Path, prov: Provenance):
        import pyarrow as pa

        self.path = path
        self.schema = pa.schema([("video_id", pa.string()), ("frame", pa.int32()), ("jpeg", pa.binary())],
                                metadata={PROVENANCE_KEY: json.dumps(prov.to_dict()).encode()})
        self.groups = 0

    def __enter__(self) -> "_ShardWriter":
        import pyarrow.parquet as pq

        self._atomic = atomic_path(self.path)
        tmp = self._atomic.__enter__()
        # JPEG bytes do not compress: no codec, no dictionary, statistics only where useful.
        self.writer = pq.ParquetWriter(tmp, self.schema, compression="none", use_dictionary=["video_id"],
                                       write_statistics=["video_id", "frame"])
        return self

    def add_video(self, video_id: str, jpegs: list[bytes], group_size: int) -> int:
        import pyarrow as pa

        first = self.groups
        for start in range(0, len(jpegs), group_size):
            chunk = jpegs[start:start + group_size]
            table = pa.table({"video_id": pa.array([video_id] * len(chunk), pa.string()),
                              "frame": pa.array(np.arange(start, start + len(chunk), dtype=np.int32)),
                              "jpeg": pa.array(chunk, pa.binary())}, schema=self.schema)
            self.writer.write_table(table, row_group_size=len(chunk))
            self.groups += 1
        return first

    def __exit__(self, exc_type, exc, tb) -> None:
        self.writer.close()
        self._atomic.__exit__(exc_type, exc, tb)
