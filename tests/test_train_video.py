"""Training and evaluation on `--source video`: the same clips as from the frame store, and a video that breaks
after indexing is recorded and replaced, never a crash or a zero tensor."""

from __future__ import annotations

import json

import pytest
import torch

from e3d.data.extract import ExtractSettings
from e3d.data.store import FrameStore
from e3d.data.video import VideoSource
from e3d.train.clips import TrainClips, split_rows
from e3d.train.failures import FailureLog, replacement_rows
from e3d.train.settings import TrainSettings
from test_train_cli import TINY_SPEC, e3d

EXTRACT = {"short_side": 32, "shards": 2}
SETTINGS = {"epochs": 1, "batch_size": 2, "lr": 0.05, "frames": 4, "crop": 24, "num_workers": 0, "flip": False,
            "checkpoint_every": 0, "seed": 3}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, cli_env):
    d = tmp_path_factory.mktemp("videosrc")
    e3d(cli_env, "synth", "--out", d / "raw", "--classes", 2, "--clips-per-class", 5, "--min-side", 32,
        "--max-side", 40, "--min-seconds", 0.6, "--max-seconds", 1.0, "--webm-fraction", 0.3)
    e3d(cli_env, "index", "--format", "synthetic", "--root", d / "raw", "--out", d / "index.parquet")
    e3d(cli_env, "extract", "--index", d / "index.parquet", "--out", d / "frames",
        *[f"--{k.replace('_', '-')}={v}" for k, v in EXTRACT.items()])
    return d


def test_training_clips_match_the_frame_store(dataset):
    s = TrainSettings.from_dict(SETTINGS)
    store = FrameStore(dataset / "frames")
    video = VideoSource(dataset / "index.parquet", ExtractSettings(**EXTRACT))
    a = TrainClips(store, split_rows(store, "train"), s)
    b = TrainClips(video, split_rows(video, "train"), s)
    assert a.ids == b.ids and a.frames == b.frames
    for key in [(0, 0, 0), (0, 1, 5), (1, 2, 3), (2, 7, len(a) - 1)]:
        (xa, ya), (xb, yb) = a[key], b[key]
        assert ya == yb and xa.shape == xb.shape
        # normalised pixels: JPEG error of a few grey levels, divided by std 0.225
        assert (xa - xb).abs().mean() < 4 / 255 / 0.225


def _broken_copy(dataset, tmp_path, split="train"):
    """The dataset with its index, and one video of `split` truncated after indexing."""
    import shutil

    from e3d.data.index import read_index, write_index
    from e3d.artifacts import Provenance

    root = tmp_path / "raw"
    shutil.copytree(dataset / "raw", root)
    df, names, _ = read_index(dataset / "index.parquet")
    write_index(tmp_path / "index.parquet", df, names, root, Provenance.make("e3d.video_index", 1, None, ()))
    victim = df[(df.split == split) & (df.status == "ok")].sort_values("video_id").iloc[0]
    data = (root / victim.path).read_bytes()
    (root / victim.path).write_bytes(data[: len(data) // 4])
    return tmp_path / "index.parquet", victim


def test_unreadable_video_is_recorded_and_replaced_deterministically(dataset, tmp_path):
    index, victim = _broken_copy(dataset, tmp_path)
    s = TrainSettings.from_dict(SETTINGS)
    video = VideoSource(index, ExtractSettings(**EXTRACT))
    rows = split_rows(video, "train")
    log = FailureLog(tmp_path / "skipped")
    clips = TrainClips(video, rows, s, failures=log)
    bad = clips.ids.index(victim.video_id)
    x, y = clips[(0, 4, bad)]
    assert torch.isfinite(x).all() and x.abs().sum() > 0
    # the replacement is the next row of the seeded permutation, with a clip drawn from its own generator
    alt = next(replacement_rows(len(rows), bad, s.seed))
    assert y == clips.labels[alt]
    fresh = TrainClips(VideoSource(index, ExtractSettings(**EXTRACT)), rows, s)
    assert torch.equal(fresh[(0, 4, bad)][0], x)  # another process (a new source, nothing cached) agrees
    # through 2 DataLoader workers: the same samples, and every failure recorded by the worker that met it
    good = [r for r in range(len(rows)) if r != bad]
    keys = [(1, p, bad if p % 2 else good[p]) for p in range(6)]
    loader = torch.utils.data.DataLoader(clips, batch_size=3, sampler=keys, num_workers=2,
                                         multiprocessing_context="fork", timeout=120)
    batched = torch.cat([xb for xb, _ in loader])
    assert torch.equal(batched, torch.stack([clips[k][0] for k in keys]))
    [entry] = log.collect()
    assert entry["video_id"] == victim.video_id and entry["reason"].startswith("decode failed")
    assert entry["path"].endswith(victim.path) and entry["first_epoch"] == 0 and entry["first_position"] == 4
    assert entry["replaced_clips"] == 1 + 3 + 3  # here, in the workers (3 keys), and in-process again


@pytest.mark.slow
def test_train_and_evaluate_from_videos_with_a_broken_file(dataset, tmp_path, cli_env):
    index, victim = _broken_copy(dataset, tmp_path)
    spec = tmp_path / "tiny.json"
    spec.write_text(json.dumps(TINY_SPEC))
    out, state = tmp_path / "out", tmp_path / "state"
    src = ["--source", "video", "--index", index, "--extract", json.dumps(EXTRACT)]
    r = e3d(cli_env, "train", *src, "--arch", f"spec:{spec}", "--settings", json.dumps({**SETTINGS, "epochs": 2}),
            "--out", out, "--state-dir", state)
    assert json.loads(r.stdout.strip().splitlines()[-1])["epochs"] == 2
    skipped = json.loads((out / "skipped_videos.json").read_text())
    assert skipped["count"] == 1 and skipped["videos"][0]["video_id"] == victim.video_id
    assert skipped["replaced_clips"] >= 1 and "could not be read" in r.stderr
    r = e3d(cli_env, "evaluate", "--model", out / "model.pt", *src, "--clips", 2, "--workers", 0,
            "--scores", tmp_path / "s.parquet", "--metrics", tmp_path / "m.json")
    n_val = int((VideoSource(index, ExtractSettings(**EXTRACT)).videos.split == "val").sum())
    assert n_val >= 2 and json.loads(r.stdout.strip().splitlines()[-1])["videos"] == n_val
    # evaluation scores every video or none: a broken one is a one-line error naming the file
    bad_index, bad_val = _broken_copy(dataset, tmp_path / "val", split="val")
    r = e3d(cli_env, "evaluate", "--model", out / "model.pt", "--source", "video", "--index", bad_index,
            "--extract", json.dumps(EXTRACT), "--workers", 0, "--scores", tmp_path / "s2.parquet",
            "--metrics", tmp_path / "m2.json", check=False)
    assert r.returncode == 2 and bad_val.path in r.stderr and "decode failed" in r.stderr
    r = e3d(cli_env, "train", "--source", "video", "--arch", f"spec:{spec}", "--out", out, "--state-dir", state,
            check=False)
    assert r.returncode == 2 and "--source video needs --index" in r.stderr
