"""Clips that could not be read during training: recorded with their reason, replaced by a deterministic other clip.

A long training job on raw videos (`source: video`) must neither crash on one bad file nor feed a silent zero
tensor. TrainClips asks `replacement_rows` for the rows to try instead (the same for every process, worker and
resume: a seeded permutation of the rows, starting after the failed one) and `FailureLog.record` appends one JSON
line per failure to a file of its own process (DataLoader workers are processes; no locking needed). The
training loop gathers them into `skipped_videos.json` beside its outputs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator

import numpy as np

MAX_REPLACEMENTS = 16  # that many unreadable videos in a row is a broken dataset, not a bad file
SKIPPED_FILE = "skipped_videos.json"
SKIPPED_SCHEMA = "train_skipped_videos"


def replacement_rows(num_rows: int, row: int, seed: int) -> Iterator[int]:
    """Rows to read instead of `row`, in the order of one seeded permutation (independent of epoch and process)."""
    perm = np.random.default_rng([seed, 0x5B1D]).permutation(num_rows)
    at = int(np.flatnonzero(perm == row)[0])
    for k in range(1, min(num_rows, MAX_REPLACEMENTS + 1)):
        yield int(perm[(at + k) % num_rows])


class FailureLog:
    """Append-only per-process JSON lines under `folder` (None: failures are only counted in memory)."""

    def __init__(self, folder: str | Path | None):
        self.folder = Path(folder) if folder is not None else None
        self.count = 0

    def record(self, **entry: Any) -> None:
        self.count += 1
        if self.folder is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        line = json.dumps(entry, sort_keys=True) + "\n"
        # one write of one short line in append mode: whole lines even when workers write at once
        with open(self.folder / f"failures-{os.getpid()}.jsonl", "a", encoding="utf-8") as f:
            f.write(line)

    def clear(self) -> None:
        if self.folder is not None and self.folder.is_dir():
            for p in self.folder.glob("failures-*.jsonl"):
                p.unlink()

    def collect(self) -> list[dict[str, Any]]:
        """One entry per video: its first reason, how many clips were replaced and when it first failed."""
        if self.folder is None or not self.folder.is_dir():
            return []
        seen: dict[str, dict[str, Any]] = {}
        for p in sorted(self.folder.glob("failures-*.jsonl")):
            for line in p.read_text(encoding="utf-8").splitlines():
                if not line.strip():
                    continue
                e = json.loads(line)
                first = seen.setdefault(e["video_id"], {"video_id": e["video_id"], "path": e["path"],
                                                        "reason": e["reason"], "replaced_clips": 0,
                                                        "first_epoch": e["epoch"], "first_position": e["position"]})
                first["replaced_clips"] += 1
                if (e["epoch"], e["position"]) < (first["first_epoch"], first["first_position"]):
                    first.update(reason=e["reason"], first_epoch=e["epoch"], first_position=e["position"])
        return sorted(seen.values(), key=lambda e: e["video_id"])
