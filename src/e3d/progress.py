"""Progress for long work, readable both in a terminal and in a Snakemake/SLURM log file.

Prints one line to stderr at most every `every` seconds (and at the end): no carriage returns, so log
files stay clean. Usage:

    with Progress(total=len(videos), desc="extract") as bar:
        for v in videos:
            ...
            bar.update(1, note=v.id)
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, total: int | None, desc: str, every: float = 2.0, unit: str = "it", stream: TextIO | None = None):
        self.total = total
        self.desc = desc
        self.every = every
        self.unit = unit
        self.stream = stream or sys.stderr
        # Work done before this process started (a resumed run) counts towards the total, not towards the rate:
        # otherwise a run resumed at 60% reports hundreds of steps per second and an ETA of seconds.
        self._resumed_at = 0
        self._done = 0
        self.start = time.monotonic()
        self._last = 0.0

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def done(self) -> int:
        return self._done

    @done.setter
    def done(self, value: int) -> None:
        # A count set before the first update is where a resumed run starts (train/loop.py and search/engine.py
        # resume this way). Handled here because this module is in no stage's code digest: a constructor argument
        # would mean editing those two, and so rerunning every training and search.
        if self._done == self._resumed_at:  # nothing counted by this process yet
            self._resumed_at = value
        self._done = value

    def update(self, n: int = 1, note: str = "") -> None:
        self._done += n
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            self._print(note)

    def _print(self, note: str = "") -> None:
        elapsed = time.monotonic() - self.start
        rate = (self._done - self._resumed_at) / elapsed if elapsed > 0 else 0.0
        if self.total:
            pct = 100.0 * self.done / self.total
            eta = (self.total - self.done) / rate if rate > 0 else float("nan")
            head = f"{self.done}/{self.total} ({pct:5.1f}%)"
            tail = f", eta {eta:6.1f}s" if eta == eta else ""
        else:
            head, tail = f"{self.done}", ""
        extra = f" {note}" if note else ""
        print(f"[{self.desc}] {head} {rate:8.1f} {self.unit}/s, {elapsed:6.1f}s{tail}{extra}", file=self.stream, flush=True)

    def close(self) -> None:
        self._print("done")
