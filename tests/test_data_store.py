"""Frame extraction, the frame store's clip reader and the clip samplers."""

import json
import pickle
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from workflow_config import tiny_synth

from e3d.artifacts import ArtifactError, read_parquet_provenance
from e3d.data.extract import ExtractSettings, extract, resized_size, shard_of
from e3d.data.index import build_index
from e3d.data.sampling import random_clip_indices, uniform_clip_indices
from e3d.data.store import FrameStore, FrameStoreError
from e3d.data.synth import SynthSettings, write_dataset

# The workflow tests' synthetic set, a little longer and more varied (frame rates, webm share).
TINY = SynthSettings(**tiny_synth(clips_per_class=3, max_side=48, min_seconds=1, max_seconds=2, min_fps=12, max_fps=20,
                                  webm_fraction=0.4))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny") / "raw"
    write_dataset(root, TINY)
    df, names = build_index("synthetic", root, progress=False)
    return root, df, names


def decode_all(path):
    import av

    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def test_store_round_trip_matches_the_source_frames(tiny, tmp_path):
    root, df, names = tiny
    s = ExtractSettings(short_side=0, shards=3, quality=95, group_size=5)
    manifest = extract(df, root, tmp_path / "frames", s, names)
    store = FrameStore(tmp_path / "frames")
    assert manifest["num_videos"] == len(df) == len(store)
    assert store.num_classes == 2 and store.class_names == names
    assert set(store.videos.columns) >= {"video_id", "label", "label_name", "split", "num_frames", "fps", "height",
                                         "width"}
    for row in df.itertuples(index=False):
        ref = decode_all(root / row.path)
        v = store.videos.set_index("video_id").loc[row.video_id]
        assert v.num_frames == len(ref) == row.num_frames and (v.height, v.width) == ref.shape[1:3]
        idx = [len(ref) - 1, 0, 3, 3, 7]  # out of order, repeated, across row groups
        clip = store.read_clip(row.video_id, idx)
        assert clip.dtype == np.uint8 and clip.shape == (5, *ref.shape[1:])
        # JPEG at quality 95 stays close to the decoded frame
        assert np.abs(clip.astype(int) - ref[idx].astype(int)).mean() < 4
        assert np.array_equal(clip[2], clip[3])


def test_resize_resample_and_deterministic_sharding(tiny, tmp_path):
    root, df, names = tiny
    s = ExtractSettings(short_side=24, fps=10, shards=2, min_frames=2)
    extract(df, root, tmp_path / "a", s, names, threads=1)
    extract(df, root, tmp_path / "b", s, names, threads=2)
    for i in range(2):
        a = (tmp_path / "a" / f"shard-{i:05d}.parquet")
        b = (tmp_path / "b" / f"shard-{i:05d}.parquet")
        assert read_parquet_provenance(a)["schema"] == "e3d.frame_shard"
        # equal except for the provenance timestamp in the footer: compare the frame data
        import pyarrow.parquet as pq

        assert pq.read_table(a).equals(pq.read_table(b))
    store = FrameStore(tmp_path / "a")
    for row in df.itertuples(index=False):
        v = store.videos.set_index("video_id").loc[row.video_id]
        assert min(v.height, v.width) == 24 and v.fps == 10.0
        assert (v.width, v.height) == resized_size(row.width, row.height, 24)
        assert v.num_frames == pytest.approx(row.num_frames * 10 / row.fps, abs=1)
        assert v.shard == shard_of(row.video_id, 2)


def test_reader_errors_and_worker_safety(tiny, tmp_path):
    root, df, names = tiny
    extract(df, root, tmp_path / "s", ExtractSettings(short_side=32, shards=2), names)
    store = FrameStore(tmp_path / "s")
    vid = store.videos.video_id[0]
    n = store.num_frames(vid)
    with pytest.raises(FrameStoreError, match="outside"):
        store.read_clip(vid, [0, n])
    with pytest.raises(FrameStoreError, match="no video 'nope'"):
        store.read_clip("nope", [0])
    assert store.read_clip(vid, []).shape[0] == 0
    first = store.read_clip(vid, [0, 1])  # opens a file handle in this process
    clone = pickle.loads(pickle.dumps(store))  # what a spawned DataLoader worker receives
    assert clone._files == {} and np.array_equal(clone.read_clip(vid, [0, 1]), first)
    # a forked worker reopens its own handles
    import torch.utils.data as tud

    class DS(tud.Dataset):
        def __len__(self):
            return len(store)

        def __getitem__(self, i):
            v = store.videos.iloc[i]
            return store.read_clip(v.video_id, random_clip_indices(int(v.num_frames), 4, 2, np.random.default_rng(i)))

    loader = tud.DataLoader(DS(), batch_size=None, num_workers=2, multiprocessing_context="fork")
    shapes = [tuple(x.shape) for x in loader]
    assert len(shapes) == len(store) and all(s[0] == 4 and s[3] == 3 for s in shapes)


def test_manifest_is_a_versioned_artifact(tiny, tmp_path):
    root, df, names = tiny
    extract(df, root, tmp_path / "s", ExtractSettings(shards=1), names)
    doc = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert doc["provenance"]["schema"] == "e3d.frame_store" and doc["shards"] == ["shard-00000.parquet"]
    (tmp_path / "s" / "manifest.json").write_text(json.dumps({"provenance": {**doc["provenance"], "schema": "x"}}))
    with pytest.raises(ArtifactError, match="expected a 'e3d.frame_store' artifact"):
        FrameStore(tmp_path / "s")


def test_undecodable_video_is_recorded_not_fatal(tiny, tmp_path):
    root, df, names = tiny
    bad = df.copy()
    bad.loc[0, "path"] = "does/not/exist.mp4"  # indexed fine, then vanished before extraction
    manifest = extract(bad, root, tmp_path / "s", ExtractSettings(shards=1), names)
    assert manifest["num_videos"] == len(df) - 1
    assert manifest["failed"][0]["video_id"] == df.video_id[0] and "decode failed" in manifest["failed"][0]["reason"]


def test_extract_cli(tiny, tmp_path, cli_env):
    root, df, names = tiny
    idx = tmp_path / "index.parquet"
    run = lambda *a: subprocess.run([sys.executable, "-m", "e3d.cli", *a], capture_output=True, text=True,  # noqa: E731
                                    env=cli_env)
    out = run("index", "--format", "synthetic", "--root", str(root), "--out", str(idx))
    assert out.returncode == 0, out.stderr
    out = run("extract", "--index", str(idx), "--out", str(tmp_path / "f"), "--shards", "2", "--short-side", "16",
              "--threads", "2")
    assert out.returncode == 0, out.stderr
    assert "[extract]" in out.stderr and f"{len(df)} videos" in out.stdout
    assert FrameStore(tmp_path / "f").read_clip(df.video_id[0], [0]).shape[1:] != (0,)
    out = run("extract", "--index", str(idx), "--out", str(tmp_path / "g"), "--quality", "0")
    assert out.returncode == 2 and "quality must be an integer >= 1 and <= 100" in out.stderr


# ------------------------------------------------------------------ samplers


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 400), clip_len=st.integers(1, 32), rate=st.integers(1, 8), k=st.integers(1, 10),
       spacing=st.sampled_from(["pyslowfast", "pyslowfast_offset"]))
def test_uniform_clip_indices(n, clip_len, rate, k, spacing):
    clips = uniform_clip_indices(n, clip_len, rate, k, spacing)
    assert len(clips) == k and all(c.shape == (clip_len,) and c.min() >= 0 and c.max() < n for c in clips)
    starts = [int(c[0]) for c in clips]
    assert starts == sorted(starts)
    span = (clip_len - 1) * rate + 1
    delta = max(0, n - span)
    if spacing == "pyslowfast":
        # PySlowFast's default get_start_end_idx: start_k = D * k / K, truncated as its linspace().long() does
        assert starts == [int(delta * j / k) for j in range(k)]
    elif k == 1:
        assert starts[0] == delta // 2
    else:
        # its USE_OFFSET_SAMPLING: k * floor(D / (K - 1)): first clip at the start, the last near the end
        assert starts == [j * (delta // (k - 1)) for j in range(k)]
        assert starts[0] == 0 and delta - starts[-1] < k


def test_clip_spacings_on_a_kinetics_like_video():
    # 300 frames, 16 frames 5 apart (span 76, D = 224), 10 clips
    default = [int(c[0]) for c in uniform_clip_indices(300, 16, 5, 10)]
    assert default == [0, 22, 44, 67, 89, 112, 134, 156, 179, 201]
    offset = [int(c[0]) for c in uniform_clip_indices(300, 16, 5, 10, "pyslowfast_offset")]
    assert offset == [24 * j for j in range(10)]
    assert [int(c[0]) for c in uniform_clip_indices(300, 16, 5, 1)] == [0]
    assert [int(c[0]) for c in uniform_clip_indices(300, 16, 5, 1, "pyslowfast_offset")] == [112]
    with pytest.raises(ValueError, match="spacing must be one of"):
        uniform_clip_indices(300, 16, 5, 2, "even")


def test_sampler_argument_errors():
    with pytest.raises(ValueError, match="num_frames"):
        random_clip_indices(0, 8, 2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="num_clips"):
        uniform_clip_indices(10, 8, 2, 0)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 400), segments=st.integers(1, 16), per=st.integers(1, 3), seed=st.integers(0, 2**32 - 1))
def test_segment_sampler_spans_the_whole_video(n, segments, per, seed):
    from e3d.data.sampling import SegmentSampler, segment_bounds

    sampler = SegmentSampler(segments, per)
    frames = segments * per
    train = sampler.train_indices(n, frames, 1, np.random.default_rng(seed))
    (test,) = sampler.test_indices(n, frames, 1, 1)
    for idx in (train, test):
        assert idx.shape == (frames,) and idx.min() >= 0 and idx.max() < n
        # every snippet lies inside its own segment, so the clip covers the video from start to end
        for (start, end), snippet in zip(segment_bounds(n, segments), idx.reshape(segments, per)):
            assert ((snippet >= start) & (snippet < end)).all() or end - start < per
    if n >= segments:
        assert np.all(np.diff(test.reshape(segments, per)[:, 0]) > 0)
    assert np.array_equal(train, sampler.train_indices(n, frames, 1, np.random.default_rng(seed)))


def test_segment_sampler_test_views_and_settings():
    from e3d.data.sampling import SegmentSampler, settings_sampler

    assert settings_sampler("clip", 8) is None
    assert settings_sampler("segments", 8) == SegmentSampler(8, 1)
    with pytest.raises(ValueError, match="sampling must be"):
        settings_sampler("tsn", 8)
    with pytest.raises(ValueError, match="8 frames asked"):
        SegmentSampler(4, 1).train_indices(100, 8, 1, np.random.default_rng(0))
    views = SegmentSampler(4, 1).test_indices(40, 4, 1, 3, "pyslowfast_offset")
    assert [v.tolist() for v in views] == [[0, 10, 20, 30], [4, 14, 24, 34], [8, 18, 28, 38]]
    views = SegmentSampler(4, 1).test_indices(40, 4, 1, 3)  # pyslowfast: D = 9, starts 0, 3, 6
    assert [v.tolist() for v in views] == [[0, 10, 20, 30], [3, 13, 23, 33], [6, 16, 26, 36]]
