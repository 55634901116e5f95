"""Progress lines: what a user reads in a terminal or a SLURM log during long work."""

import io
import re

from e3d.progress import Progress


def _lines(stream: io.StringIO) -> list[str]:
    return [line for line in stream.getvalue().splitlines() if line]


def test_a_resumed_run_counts_its_earlier_work_in_the_total_but_not_in_the_rate(monkeypatch):
    clock = iter([100.0, 110.0, 110.0])  # start, the update's check, the printed line
    monkeypatch.setattr("e3d.progress.time.monotonic", lambda: next(clock))
    out = io.StringIO()
    bar = Progress(total=1000, desc="train", stream=out, every=0.0)
    bar.done = 600  # how train/loop.py and search/engine.py resume
    bar.update(50)
    line = _lines(out)[-1]
    assert line.startswith("[train] 650/1000 ( 65.0%)")
    rate = float(re.search(r"([\d.]+) it/s", line).group(1))
    eta = float(re.search(r"eta\s+([\d.]+)s", line).group(1))
    assert rate == 5.0  # 50 steps in 10 s, not 650
    assert eta == 70.0  # 350 steps left at 5 steps/s


def test_a_fresh_run_reports_its_rate_and_a_final_done_line(monkeypatch):
    clock = iter([0.0, 4.0, 4.0, 8.0])
    monkeypatch.setattr("e3d.progress.time.monotonic", lambda: next(clock))
    out = io.StringIO()
    with Progress(total=None, desc="extract", unit="videos", stream=out, every=0.0) as bar:
        bar.update(8, note="a.mp4")
    first, last = _lines(out)
    assert first == "[extract] 8      2.0 videos/s,    4.0s a.mp4"
    assert last.endswith("done") and "1.0 videos/s" in last and "\r" not in out.getvalue()


def test_a_count_set_before_the_first_update_is_where_the_run_resumed(monkeypatch):
    clock = iter([0.0, 20.0, 20.0])
    monkeypatch.setattr("e3d.progress.time.monotonic", lambda: next(clock))
    out = io.StringIO()
    bar = Progress(total=9600, desc="train", stream=out, every=0.0)
    bar.done = 4800
    bar.update(100)
    assert " 5.0 it/s" in _lines(out)[-1] and "eta  940.0s" in _lines(out)[-1]
