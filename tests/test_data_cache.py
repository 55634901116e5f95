"""The decoded-clip cache (e3d.data.cache, `e3d cache`, the dataset setting `cache`): the frame store's clips
resized once into one memory-mapped file, read like the store, written atomically and deterministically."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch

from e3d.artifacts import ArtifactError
from e3d.config import validate_config
from e3d.data import cache as cache_mod
from e3d.data.cache import ClipCache, ClipCacheError, shrink, write_cache
from e3d.data.extract import ExtractSettings, extract
from e3d.data.index import build_index
from e3d.data.settings import needed_short_side
from e3d.data.store import FrameStore
from e3d.data.synth import SynthSettings, write_dataset
from e3d.data.workflow import DataConfig
from e3d.errors import UserError
from e3d.train.clips import TrainClips, resize_short_side, split_rows, to_tensor, train_augment
from e3d.train.settings import TrainSettings
from test_train_cli import TINY_SPEC, e3d
from workflow_config import TINY_TRAIN_SETTINGS, tiny_data, tiny_dirs, tiny_spec_ref, tiny_synth, write_config

EXTRACT = ExtractSettings(short_side=32, shards=2, group_size=5)  # a clip crosses row groups and shards
SETTINGS = {"epochs": 1, "batch_size": 2, "lr": 0.05, "frames": 4, "crop": 24, "num_workers": 0, "flip": False,
            "checkpoint_every": 0, "seed": 3, "short_side_scale": [1.0, 1.25]}
SHORT = needed_short_side(24, (1.0, 1.25))  # 30: what SETTINGS' augmentation resizes to at most


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("cache")
    write_dataset(d / "raw", SynthSettings(**tiny_synth(clips_per_class=4, max_side=48, webm_fraction=0.3)))
    df, names = build_index("synthetic", d / "raw", progress=False)
    extract(df, d / "raw", d / "frames", EXTRACT, names)
    manifest = write_cache(FrameStore(d / "frames"), d / "cache", SHORT, progress=False)
    return d, manifest


def test_the_cache_reads_like_the_store_resized(data):
    d, manifest = data
    store, cache = FrameStore(d / "frames"), ClipCache(d / "cache")
    assert len(cache) == len(store) == manifest["num_videos"] and cache.class_names == store.class_names
    assert cache.num_classes == store.num_classes and cache.short_side == SHORT
    for col in ("video_id", "label", "split", "num_frames"):
        assert cache.videos[col].tolist() == store.videos[col].tolist(), col
    assert (d / "cache" / "frames.u8").stat().st_size == manifest["bytes"] == sum(
        n * h * w * 3 for n, h, w in zip(cache.videos.num_frames, cache.videos.height, cache.videos.width))
    diffs = []
    for row in store.videos.itertuples(index=False):
        idx = [row.num_frames - 1, 0, 3, 3, 7]  # out of order, repeated, across row groups
        ref, got = store.read_clip(row.video_id, idx), cache.read_clip(row.video_id, idx)
        assert got.dtype == np.uint8 and got.flags.writeable and type(got) is np.ndarray
        assert min(got.shape[1:3]) == SHORT and got.shape[0] == 5
        # aspect kept: the same (height, width) training's resize gives the store's frames
        assert got.shape[1:3] == resize_short_side(to_tensor(ref), SHORT).shape[2:]
        assert np.array_equal(got, shrink(ref, SHORT)) and np.array_equal(got[2], got[3])
        # The one approximation: training resizes the store's clip once; the cache's, twice. At every short side
        # the augmentation draws, the two paths differ by well under a grey level on average.
        for s in range(24, SHORT + 1):
            a = resize_short_side(to_tensor(ref), s)
            # at the size the store's frames give (resizing the cached frame's own size would round twice)
            b = resize_short_side(to_tensor(got), s, cache.source_frame_size(row.video_id))
            assert a.shape == b.shape
            diffs.append(((a - b).abs() * 255).flatten())
    diffs = torch.cat(diffs)
    mean, p99, worst = float(diffs.mean()), float(diffs.quantile(0.99)), float(diffs.max())
    print(f"|store path - cache path| in grey levels: mean {mean:.2f}, 99th percentile {p99:.2f}, max {worst:.1f}")
    # measured: mean 0.63, 99th percentile 7.5, max 40 (a sharp edge of the synthetic shapes moves by a fraction of
    # a pixel); the store's own JPEG error is several grey levels on average
    assert mean < 1.0 and p99 < 10 and worst < 64
    assert cache.num_frames(store.videos.video_id[0]) == store.videos.num_frames[0]
    assert cache.read_clip(store.videos.video_id[0], []).shape[0] == 0


def test_a_cache_at_the_stores_size_is_the_store_exactly(data, tmp_path):
    d, _ = data
    store = FrameStore(d / "frames")
    m = write_cache(store, tmp_path / "c", 32, progress=False)
    assert m["resized_videos"] == 0
    cache = ClipCache(tmp_path / "c")
    assert cache.covers(64)  # nothing was shrunk: any reader gets the store's frames
    vid = store.videos.video_id[1]
    assert np.array_equal(cache.read_clip(vid, [0, 2, 4]), store.read_clip(vid, [0, 2, 4]))


def test_training_clips_from_the_cache_match_the_store(data):
    d, _ = data
    s = TrainSettings.from_dict(SETTINGS)
    store, cache = FrameStore(d / "frames"), ClipCache(d / "cache")
    a = TrainClips(store, split_rows(store, "train"), s)
    b = TrainClips(cache, split_rows(cache, "train"), s)
    assert a.ids == b.ids and a.frames == b.frames and a.labels == b.labels
    for key in [(0, 0, 0), (0, 1, 3), (1, 2, 2), (2, 5, len(a) - 1)]:
        (xa, ya), (xb, yb) = a[key], b[key]
        assert ya == yb and xa.shape == xb.shape
        assert (xa - xb).abs().mean() < 1.5 / 255 / 0.225  # normalised pixels: about a grey level


def test_the_needed_short_side_bounds_every_resize_of_the_augmentation():
    for crop in range(8, 80):
        for hi in (1.0, 1.1, 1.25, 4 / 3, 1.5, 2.0):
            need = needed_short_side(crop, (1.0, hi))
            assert need <= crop * hi + 1  # never more than one pixel above the largest scale
            for u in (1.0, hi - 1e-12, (1 + hi) / 2):  # train_augment draws max(crop, round(crop x u))
                assert max(crop, round(crop * u)) <= need


def test_train_augment_of_a_cache_clip_at_its_short_side():
    s = TrainSettings.from_dict({**SETTINGS, "crop": 32})
    clip = np.random.default_rng(0).integers(0, 256, (4, 40, 50, 3), dtype=np.uint8)
    out = train_augment(clip, s, np.random.default_rng(1))
    assert out.shape == (3, 4, 32, 32)


def test_the_write_is_deterministic_and_the_same_with_worker_processes(data, tmp_path):
    d, first = data
    store = FrameStore(d / "frames")
    again = write_cache(store, tmp_path / "one", SHORT, progress=False)
    pooled = write_cache(store, tmp_path / "two", SHORT, threads=2, progress=False)
    frames = (d / "cache" / "frames.u8").read_bytes()
    assert (tmp_path / "one" / "frames.u8").read_bytes() == frames == (tmp_path / "two" / "frames.u8").read_bytes()
    assert again == first == pooled and first["blake2b"]
    doc = json.loads((tmp_path / "one" / "manifest.json").read_text())
    assert doc["provenance"]["schema"] == "e3d.clip_cache" and doc["source"]["kind"] == "frames"


def test_an_interrupted_write_leaves_no_cache(data, tmp_path, monkeypatch):
    d, _ = data
    store = FrameStore(d / "frames")
    out = tmp_path / "c"
    write_cache(store, out, SHORT, progress=False)  # a good cache, then a rebuild that fails half way
    calls = {"n": 0}
    real = cache_mod.shrink

    def failing(clip, short_side):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # as a killed job
        return real(clip, short_side)

    monkeypatch.setattr(cache_mod, "shrink", failing)
    with pytest.raises(KeyboardInterrupt):
        write_cache(store, out, SHORT, progress=False)
    # no temporary file, and no manifest describing frames it was not written with
    assert sorted(p.name for p in out.iterdir()) == ["frames.u8"]
    with pytest.raises(ArtifactError, match=f"{out / 'manifest.json'}: artifact does not exist"):
        ClipCache(out)
    monkeypatch.setattr(cache_mod, "shrink", real)
    fresh = tmp_path / "fresh"
    monkeypatch.setattr(cache_mod, "shrink", failing)
    calls["n"] = 0
    with pytest.raises(KeyboardInterrupt):
        write_cache(store, fresh, SHORT, progress=False)
    assert list(fresh.iterdir()) == []


def test_reader_errors_name_the_file_and_workers_reopen_the_map(data, tmp_path):
    d, _ = data
    cache = ClipCache(d / "cache")
    vid = cache.videos.video_id[0]
    with pytest.raises(ClipCacheError, match=f"{d / 'cache' / 'manifest.json'}: no video 'nope'"):
        cache.read_clip("nope", [0])
    with pytest.raises(ClipCacheError, match="frame index 999 outside"):
        cache.read_clip(vid, [0, 999])
    before = cache.read_clip(vid, [1, 2])
    clone = pickle.loads(pickle.dumps(cache))
    assert clone._frames is None and len(pickle.dumps(cache)) < 100_000  # the map never travels
    assert np.array_equal(clone.read_clip(vid, [1, 2]), before)
    # a frames file that is not the one the manifest describes
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "manifest.json").write_bytes((d / "cache" / "manifest.json").read_bytes())
    (broken / "frames.u8").write_bytes((d / "cache" / "frames.u8").read_bytes()[:1000])
    with pytest.raises(ArtifactError, match=f"{broken / 'frames.u8'}: 1000 bytes"):
        ClipCache(broken)
    (broken / "frames.u8").unlink()
    with pytest.raises(ArtifactError, match=f"{broken / 'frames.u8'}: the cache's frames file does not exist"):
        ClipCache(broken)
    with pytest.raises(UserError, match=f"{d / 'cache' / 'manifest.json'}: frames cached at short side 30, but "
                                        "training resizes to 40"):
        cache.require(40, "training")
    cache.require(30, "training")


def test_command_errors_name_the_file(data, tmp_path, cli_env):
    d, _ = data
    r = e3d(cli_env, "cache", "--store", tmp_path / "nope", "--short-side", 16, "--out", tmp_path / "c", check=False)
    assert r.returncode == 2 and f"{tmp_path / 'nope' / 'manifest.json'}: artifact does not exist" in r.stderr
    r = e3d(cli_env, "cache", "--store", d / "frames", "--short-side", 33, "--out", tmp_path / "c", check=False)
    assert r.returncode == 2 and f"{d / 'frames'}: cache short side 33 is larger than this source's frames (32 px)" \
        in r.stderr
    r = e3d(cli_env, "cache", "--store", d / "frames", "--short-side", 4, "--out", tmp_path / "c", check=False)
    assert r.returncode == 2 and "short side must be >= 8" in r.stderr
    assert not (tmp_path / "c" / "manifest.json").exists()


@pytest.mark.slow
def test_cache_train_and_evaluate_commands(data, tmp_path, cli_env):
    d, _ = data
    spec = tmp_path / "tiny.json"
    spec.write_text(json.dumps(TINY_SPEC))
    out = tmp_path / "out"
    r = e3d(cli_env, "cache", "--store", d / "frames", "--short-side", SHORT, "--out", tmp_path / "cache",
            "--threads", 2)
    assert f"frames at short side {SHORT}" in r.stdout and "[cache] 8/8" in r.stderr
    assert (tmp_path / "cache" / "frames.u8").read_bytes() == (d / "cache" / "frames.u8").read_bytes()
    src = ["--source", "cache", "--cache", tmp_path / "cache"]
    r = e3d(cli_env, "train", *src, "--arch", f"spec:{spec}", "--settings", json.dumps({**SETTINGS, "epochs": 2}),
            "--out", out, "--state-dir", tmp_path / "state")
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["epochs"] == 2 and np.isfinite(summary["final_loss"])
    r = e3d(cli_env, "evaluate", "--model", out / "model.pt", *src, "--clips", 2, "--workers", 1,
            "--scores", tmp_path / "s.parquet", "--metrics", tmp_path / "m.json")
    n_val = int((ClipCache(tmp_path / "cache").videos.split == "val").sum())
    assert json.loads(r.stdout.strip().splitlines()[-1])["videos"] == n_val


def test_training_and_evaluation_on_the_cache(data, tmp_path, capsys):
    """A few steps in-process: a state from the store is not resumed on the cache (other pixels), the cache's own
    is; evaluation reads it; a schedule or test crop the cache is too small for is refused, naming the cache."""
    from e3d.cli import main
    from e3d.train.loop import train
    from e3d.train.model_source import ModelOptions, resolve

    d, _ = data
    spec = tmp_path / "tiny.json"
    spec.write_text(json.dumps(TINY_SPEC))
    s = TrainSettings.from_dict(SETTINGS)
    record = resolve(f"spec:{spec}", ModelOptions(frames=s.frames, resolution=s.crop))
    out, state = tmp_path / "out", tmp_path / "state"
    train(FrameStore(d / "frames"), record, s, out, state)
    res = train(ClipCache(d / "cache"), record, s, out, state)
    assert res.resumed_from_step == 0 and "ignoring" in capsys.readouterr().err
    assert np.isfinite(res.metrics[-1]["loss"]) and res.metrics[-1]["clips"] == 6
    assert train(ClipCache(d / "cache"), record, s, out, state).resumed_from_step > 0  # the cache's own state

    src = ["--source", "cache", "--cache", str(d / "cache")]
    common = ["--workers", "0", "--scores", str(tmp_path / "s.parquet"), "--metrics", str(tmp_path / "m.json")]
    assert main(["evaluate", "--model", str(out / "model.pt"), *src, "--clips", "2", *common]) == 0
    n_val = int((ClipCache(d / "cache").videos.split == "val").sum())
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["videos"] == n_val
    assert main(["evaluate", "--model", str(out / "model.pt"), *src, "--crop", "31", *common]) == 2
    manifest = d / "cache" / "manifest.json"
    assert f"{manifest}: frames cached at short side 30, but the test crop (31) resizes to 31" in capsys.readouterr().err
    train_args = ["train", "--arch", f"spec:{spec}", "--out", str(out), "--state-dir", str(tmp_path / "s2")]
    assert main([*train_args, *src, "--settings", json.dumps({**SETTINGS, "crop": 32})]) == 2
    assert f"{manifest}: frames cached at short side 30, but training (crop x short_side_scale max) resizes to 40" \
        in capsys.readouterr().err
    assert main([*train_args, "--source", "cache"]) == 2
    assert "--source cache needs --cache" in capsys.readouterr().err


# ---- the workflow: the dataset setting, the derived short side, the rule's flags ----
def _config(**cache):
    return validate_config({"data": {"datasets": {"synthetic": {"format": "synthetic", "cache": cache},
                                                  "k": {"format": "kinetics400", "root": "/d", "source": "video",
                                                        "extract": {"short_side": 128}, "cache": cache}}},
                            "train": {"settings": {"crop": 32, "short_side_scale": [1.0, 1.25]},
                                      "dataset_settings": {"k": {"crop": 96}}},
                            "evaluate": {"datasets": {"k": {"models": {"m": {"crop": 112}}}}}})


def test_the_short_side_is_derived_from_what_reads_the_cache():
    data = DataConfig(_config(enabled=True))
    assert data.cached("synthetic") and data.cache_short_side("synthetic") == 40  # 32 x 1.25
    assert data.cache_short_side("k") == 120  # 96 x 1.25 above the 112 test crop, below the frames' 128
    cfg = _config(enabled=True)
    cfg["models"] = {"big": {"arch": "builtin:e3d-s", "settings": {"crop": 64}}}
    assert DataConfig(cfg).cache_short_side("synthetic") == 64  # 64 x 1.25 = 80, capped at the frames' 64
    cfg["evaluate"]["datasets"]["k"]["crop"] = 125
    assert DataConfig(cfg).cache_short_side("k") == 125
    assert DataConfig(_config(enabled=True, short_side=48)).cache_short_side("synthetic") == 48
    with pytest.raises(ValueError, match="cache.short_side 65 is larger than the frames"):
        DataConfig(_config(enabled=True, short_side=65)).cache_short_side("synthetic")
    with pytest.raises(Exception, match="short_side"):
        validate_config({"data": {"datasets": {"s": {"format": "synthetic", "cache": {"short_side": 4}}}}})


def test_train_and_evaluate_read_the_cache_when_it_is_on():
    off = DataConfig(_config())
    assert not off.cached("synthetic") and off.clip_input("synthetic") == "work/data/synthetic/frames/manifest.json"
    on = DataConfig(_config(enabled=True))
    assert on.clip_input("synthetic") == "work/data/synthetic/cache/manifest.json"
    assert on.clip_args("synthetic", on.clip_input("synthetic")) == "--cache work/data/synthetic/cache --source cache"
    # the cache rule reads the dataset's own source: the store, or the videos of the index
    assert on.source_args("synthetic", on.source_input("synthetic")) == "--store work/data/synthetic/frames"
    assert on.source_input("k") == "work/data/k/index.parquet"
    assert on.source_args("k", on.source_input("k")).endswith("--index work/data/k/index.parquet --source video")
    assert on.cache_slice("synthetic") == {"short_side": 40}
    # the cache settings never re-index
    assert on.index_slice("synthetic") == off.index_slice("synthetic") and "cache" not in on.index_slice("k")


def test_the_default_config_caches_the_synthetic_set(repo_root):
    from e3d.config import load_config

    data = DataConfig(load_config(repo_root / "config" / "config.yaml"))
    assert data.cached("synthetic") and data.cache_short_side("synthetic") == 40


@pytest.mark.slow
def test_the_cache_rule_reruns_precisely(tmp_path, repo_root, cli_env):
    """The cache job reruns when its short side changes (set, or derived from the training crop), and then only it
    and what reads it; train and evaluate read the cache."""
    from smk import dry_run, rules_of, run_locally

    cfg = {**tiny_dirs(tmp_path), "data": tiny_data(threads=2),
           "models": {"tiny": {"arch": tiny_spec_ref(tmp_path), "act": "relu"}},
           "train": {"settings": dict(TINY_TRAIN_SETTINGS)}, "evaluate": {"single_frame_control": False}}
    cfg["data"]["datasets"]["synthetic"]["cache"] = {"enabled": True}
    path = write_config(tmp_path / "cfg.yaml", cfg)
    manifest = tmp_path / "work/data/synthetic/cache/manifest.json"
    evals = [tmp_path / "work/eval/synthetic/tiny/multiview.metrics.json"]
    out = run_locally(repo_root, cli_env, manifest, "--configfile", path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(manifest.read_text())["settings"]["short_side"] == 30  # crop 24 x 1.25, below the frames' 32
    assert "[cache] " in (tmp_path / "logs/data/synthetic/cache.log").read_text()

    def planned(targets, **cache):
        cfg["data"]["datasets"]["synthetic"]["cache"] = {"enabled": True, **cache}
        write_config(path, cfg)
        return rules_of(dry_run(repo_root, cli_env, ["--nolock", *map(str, targets), "--configfile", str(path)]))

    assert planned([manifest]) == set()
    assert planned(evals) == {"train", "evaluate"}
    assert planned([manifest], short_side=28) == {"cache"}
    assert planned(evals, short_side=28) == {"cache", "train", "evaluate"}  # never the store, index or videos
    cfg["train"]["settings"]["epochs"] = 2  # what does not change the short side does not touch the cache
    assert planned([manifest]) == set()
    cfg["train"]["settings"]["crop"] = 20  # 25: derived anew
    assert planned([manifest]) == {"cache"}
