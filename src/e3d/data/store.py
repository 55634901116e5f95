"""Read clips from a frame store written by e3d.data.extract.

`FrameStore(store_dir).read_clip(video_id, indices)` reads only the Parquet row groups that hold the
requested frames and decodes only the requested JPEGs (each distinct index once, even if repeated).
Shard files are opened lazily and per process, so a FrameStore built in the parent can be handed to
DataLoader workers (forked or spawned) safely.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from e3d.artifacts import read_json
from e3d.data.extract import STORE_SCHEMA, STORE_VERSION
from e3d.errors import E3DError


class FrameStoreError(E3DError, KeyError):
    """Unknown video or frame index outside the video."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class FrameStore:
    def __init__(self, store_dir: str | Path):
        import pandas as pd

        self.store_dir = Path(store_dir)
        self.manifest = read_json(self.store_dir / "manifest.json", schema=STORE_SCHEMA, max_version=STORE_VERSION)
        self.settings = self.manifest["settings"]
        self.group_size = int(self.settings["group_size"])
        self.class_names: list[str] = list(self.manifest["class_names"])
        self.num_classes: int = int(self.manifest["num_classes"])
        self.shard_files: list[str] = list(self.manifest["shards"])
        self.videos = pd.DataFrame(self.manifest["videos"])
        self._row = {vid: i for i, vid in enumerate(self.videos.video_id)}
        self._num_frames = self.videos.num_frames.to_numpy()
        self._shard = self.videos.shard.to_numpy()
        self._group = self.videos.row_group.to_numpy()
        self._files: dict[int, object] = {}
        self._pid = os.getpid()

    def __len__(self) -> int:
        return len(self.videos)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_files"] = {}  # open file handles never cross a process boundary
        return state

    def _file(self, shard: int):
        import pyarrow.parquet as pq

        if self._pid != os.getpid():  # forked worker: the parent's handles share file offsets
            self._files, self._pid = {}, os.getpid()
        f = self._files.get(shard)
        if f is None:
            f = pq.ParquetFile(self.store_dir / self.shard_files[shard])
            self._files[shard] = f
        return f

    def num_frames(self, video_id: str) -> int:
        return int(self._num_frames[self._index(video_id)])

    def _index(self, video_id: str) -> int:
        try:
            return self._row[video_id]
        except KeyError:
            raise FrameStoreError(f"{self.store_dir}: no video {video_id!r} in this frame store") from None

    def read_jpegs(self, video_id: str, indices: Sequence[int]) -> dict[int, bytes]:
        """The JPEG bytes of each distinct requested frame."""
        i = self._index(video_id)
        n = int(self._num_frames[i])
        wanted = np.unique(np.asarray(indices, dtype=np.int64))
        if wanted.size and (wanted[0] < 0 or wanted[-1] >= n):
            bad = int(wanted[0] if wanted[0] < 0 else wanted[-1])
            raise FrameStoreError(f"{video_id}: frame index {bad} outside [0, {n})")
        f = self._file(int(self._shard[i]))
        first = int(self._group[i])
        out: dict[int, bytes] = {}
        groups = wanted // self.group_size
        for g in np.unique(groups):
            column = f.read_row_group(first + int(g), columns=["jpeg"]).column(0)
            for idx in wanted[groups == g]:
                out[int(idx)] = column[int(idx - g * self.group_size)].as_py()
        return out

    def read_clip(self, video_id: str, indices: Sequence[int]) -> np.ndarray:
        """uint8 [T, H, W, 3] for the given frame indices (repeats allowed)."""
        from PIL import Image

        indices = [int(x) for x in indices]
        jpegs = self.read_jpegs(video_id, indices)
        decoded = {}
        for idx, data in jpegs.items():
            with Image.open(io.BytesIO(data)) as im:
                decoded[idx] = np.asarray(im.convert("RGB"))
        if not indices:
            i = self._index(video_id)
            h, w = int(self.videos.height.iloc[i]), int(self.videos.width.iloc[i])
            return np.empty((0, h, w, 3), np.uint8)
        return np.stack([decoded[idx] for idx in indices])
