"""The built-in synthetic dataset: deterministic files, Kinetics layout, classes that need time."""

import csv
import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest

from e3d.data.synth import CLASSES, SynthSettings, plan, render, write_dataset
from e3d.errors import UserError

SMALL = SynthSettings(classes=4, clips_per_class=3, min_side=32, max_side=40, min_seconds=1, max_seconds=1.5,
                      webm_fraction=0.5)


def test_same_seed_same_bytes_whatever_the_workers(tmp_path):
    a = write_dataset(tmp_path / "a", SMALL, threads=1)
    b = write_dataset(tmp_path / "b", SMALL, threads=2)
    assert a == b and {f.rsplit(".", 1)[1] for f in a["files"]} == {"mp4", "webm"}
    for rel in a["files"] + a["annotations"]:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    c = plan(dataclasses.replace(SMALL, seed=1))
    assert [s.params for s in c] != [s.params for s in plan(SMALL)]


def test_kinetics_layout_and_splits(tmp_path):
    summary = write_dataset(tmp_path, SMALL)
    rows = list(csv.DictReader((tmp_path / "annotations" / "train.csv").open()))
    rows += list(csv.DictReader((tmp_path / "annotations" / "validate.csv").open()))
    assert len(rows) == 12 and set(rows[0]) == {"label", "youtube_id", "time_start", "time_end", "split"}
    assert {r["split"] for r in rows} == {"train", "val"}
    assert sum(r["split"] == "val" for r in rows) == 4  # one of three per class (val_fraction 0.2 rounds up to 1)
    for r, rel in zip(sorted(rows, key=lambda r: r["youtube_id"]), summary["files"]):
        assert f"{r['youtube_id']}_{int(r['time_start']):06d}_{int(r['time_end']):06d}" in rel
        assert rel.split("/")[1] == r["label"]
    assert (tmp_path / "classes.txt").read_text().splitlines() == [c[0] for c in CLASSES[:4]]


def test_sizes_rates_and_lengths_vary_within_bounds():
    specs = plan(SynthSettings())
    assert len(specs) == 1000  # the default: 10 classes x 100 clips
    assert {min(s.width, s.height) for s in specs} <= set(range(64, 129)) and len({s.width for s in specs}) > 10
    assert all(12 <= s.fps <= 100 for s in specs) and len({s.fps for s in specs}) > 10
    secs = [s.num_frames / s.fps for s in specs]
    assert 0.95 <= min(secs) and max(secs) <= 5.05 and np.std(secs) > 0.8
    assert all(s.width % 2 == 0 and s.height % 2 == 0 for s in specs)  # yuv420p needs even sizes


@pytest.mark.parametrize("pair", [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)])
def test_each_pair_differs_only_by_the_direction_of_time(pair):
    """Clip of the second class == the first class's clip played backwards (with the matching start).

    So a single frame (or a bag of frames) has the same distribution in both classes: only order tells them apart.
    """
    spec = plan(dataclasses.replace(SynthSettings(), clips_per_class=2))[2 * pair[0]]
    assert spec.label == pair[0]
    forward = render(spec)
    start, span = spec.params["start"], spec.params["span"]
    back = dataclasses.replace(spec, label=pair[1], params={**spec.params, "start": 1.0 - start - span})
    backward = render(back)
    differs = np.any(forward[::-1] != backward, axis=-1).mean()
    assert differs < 0.002  # identical up to pixels on a shape's edge where float rounding flips the mask
    moving = np.any(forward[1:] != forward[:-1], axis=(1, 2, 3)).mean()
    assert moving > 0.9  # and the object really changes from frame to frame


def test_bad_settings_are_rejected():
    with pytest.raises(UserError, match="classes must be an integer >= 2 and <= 10"):
        plan(SynthSettings(classes=11))
    with pytest.raises(UserError, match="min_side <= max_side"):
        plan(SynthSettings(min_side=100, max_side=50))


def test_synth_cli(tmp_path, cli_env):
    out = subprocess.run([sys.executable, "-m", "e3d.cli", "synth", "--out", str(tmp_path / "s"), "--classes", "2",
                          "--clips-per-class", "2", "--min-side", "32", "--max-side", "32", "--max-seconds", "1"],
                         capture_output=True, text=True, env=cli_env)
    assert out.returncode == 0, out.stderr
    doc = json.loads((tmp_path / "s" / "synth.json").read_text())
    assert doc["num_videos"] == 4 and doc["provenance"]["schema"] == "e3d.synth"
    assert "[synth]" in out.stderr
