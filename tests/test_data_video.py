"""The `video` clip source: the same (video, indices) as the frame store gives the same frames, read by seeking
in the raw video; decode failures are named; DataLoader workers leave no open video files behind."""

import os
import pickle
from fractions import Fraction

import numpy as np
import pytest

from e3d.data.adapters import Entry, Listing
from e3d.data.extract import (ExtractSettings, _frames_from_container, _keep_counts, extract, kept_frames,
                              source_frame)
from e3d.data.index import index_listing, write_index
from e3d.data.store import FrameStore
from e3d.data.video import ClipReadError, VideoSource, open_source


def encode(path, frames=60, rate=Fraction(30000, 1001), codec="libx264", size=(96, 72), options=None, seed=0):
    """A moving random texture with a frame-numbered band, so a frame off by one differs clearly."""
    import av

    w, h = size
    rng = np.random.default_rng(seed)
    # a smooth luma wave travelling 0.8 rad a frame: texture JPEG keeps (unlike noise or strong chroma) that
    # still changes clearly from one frame to the next
    y, x = np.mgrid[0:h, 0:w]
    wave = 2 * np.pi * (x / rng.uniform(16, 40) + y / rng.uniform(16, 40))
    tint = np.array([1.0, 0.85, 0.7])
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=rate)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = options or {}
        for i in range(frames):
            img = ((128 + 90 * np.sin(wave - 0.8 * i))[..., None] * tint).astype(np.uint8)
            img[:, :10] = (i * 37) % 256
            for p in s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


# B-frames with an open GOP at 29.97 fps (mp4), closed GOPs with B-frames in Matroska (no dts on the first
# packet), VP9 webm at 12 fps like Something-Something V2, a long-GOP one where most reads seek nowhere, and AVI.
VIDEOS = {
    "open_gop": ("open_gop.mp4", dict(options={"bf": "3", "g": "12",
                                               "x264-params": "open-gop=1:keyint=12:min-keyint=12:scenecut=0"})),
    "bframes_mkv": ("bframes.mkv", dict(frames=50, options={"bf": "2", "g": "10"})),
    "vp9": ("sth.webm", dict(frames=40, rate=12, codec="libvpx-vp9", size=(80, 64),
                             options={"g": "8", "deadline": "realtime", "cpu-used": "8"})),
    "long_gop": ("long.mp4", dict(frames=45, rate=25, options={"g": "250", "bf": "2"})),
    # MPEG-4 part 2 with B-frames in AVI, as UCF101 and HMDB51 ship (pts start at 1, dts differ)
    "ucf_avi": ("ucf.avi", dict(frames=40, rate=25, codec="mpeg4", size=(80, 64), options={"bf": "2", "g": "12"})),
}


def write_dataset(root, names=VIDEOS):
    root.mkdir(parents=True, exist_ok=True)
    entries = []
    for k, (vid, (fname, kw)) in enumerate(sorted(names.items())):
        encode(root / fname, seed=k, **kw)
        entries.append(Entry(vid, fname, "a" if k % 2 else "b", "train" if k < 3 else "val"))
    listing = Listing(["a", "b"], entries)
    df = index_listing(listing, root, progress=False)
    return df, listing.class_names


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from e3d.artifacts import Provenance

    base = tmp_path_factory.mktemp("video")
    root = base / "raw"
    df, names = write_dataset(root)
    assert (df.status == "ok").all(), df.reason.tolist()
    index = base / "index.parquet"
    write_index(index, df, names, root, Provenance.make("e3d.video_index", 1, None, ()))
    return base, root, df, names, index


def reference_frames(path, src_fps, settings):
    """What the extract stage encodes to JPEG: every decoded frame, resampled and resized."""
    out = []
    keep = _keep_counts(src_fps, settings.fps)
    for rgb in _frames_from_container(str(path), settings, threads=1):
        out.extend([rgb] * next(keep))
    return np.stack(out)


def test_resampling_inverse_agrees_with_extraction():
    for src, fps in [(29.97002997, 12.0), (30.0, 10.0), (12.0, 30.0), (25.0, 25.0), (23.976, 7.5)]:
        keep = _keep_counts(src, fps)
        expanded = [i for i in range(200) for _ in range(next(keep))]
        assert kept_frames(200, src, fps) == len(expanded)
        assert [source_frame(k, src, fps) for k in range(len(expanded))] == expanded


def _no_fallback(*args, **kwargs):
    raise AssertionError("the seeking reader fell back to decoding from the start")


@pytest.mark.parametrize("fps,mode", [(0.0, "seek"), (10.0, "seek"), (10.0, "sequential")])
def test_video_source_gives_the_frame_store_frames(data, tmp_path, monkeypatch, fps, mode):
    import e3d.data.video as video_module

    base, root, df, names, index = data
    if mode == "seek":  # every read must come from seeking, or a seek bug would hide behind the fallback
        monkeypatch.setattr(video_module, "_decode_sequential", _no_fallback)
    else:  # the path for files whose timestamps cannot number the frames
        monkeypatch.setattr(video_module, "frame_table", lambda container, stream: None)
    s = ExtractSettings(short_side=48, fps=fps, shards=2, quality=95, min_frames=8)
    extract(df, root, tmp_path / "frames", s, names)
    store = FrameStore(tmp_path / "frames")
    video = VideoSource(index, s)
    # same rows in the same order with the same frame counts: a seeded run picks the same clips from either
    cols = ["video_id", "label", "split", "num_frames", "height", "width"]
    assert video.videos[cols].equals(store.videos[cols].astype(video.videos[cols].dtypes.to_dict()))
    rng = np.random.default_rng(0)
    for row in store.videos.itertuples(index=False):
        ref = reference_frames(root / row.source_path, float(df.set_index("video_id").fps[row.video_id]), s)
        n = row.num_frames
        assert len(ref) == n
        picks = [np.arange(n)[::-1][:5], [0, 0, n - 1], np.sort(rng.choice(n, 8, replace=False)),
                 rng.integers(0, n, 6), np.arange(n // 3, n // 3 + 16) % n]
        for idx in picks:
            clip = video.read_clip(row.video_id, idx)
            # bit-exact against the frames extraction encodes, within JPEG error of what the store returns
            assert np.array_equal(clip, ref[np.asarray(idx)]), (row.video_id, list(idx))
            stored = store.read_clip(row.video_id, idx)
            assert clip.shape == stored.shape
            assert np.abs(clip.astype(int) - stored.astype(int)).mean() < 4
            # and not within that tolerance of the neighbouring frames: an off-by-one would fail
            if n > 1:
                shifted = [(int(i) + 1) % n for i in idx]
                assert np.abs(clip.astype(int) - ref[shifted].astype(int)).mean() > 8


def test_pickled_source_and_open_source(data):
    base, root, df, names, index = data
    s = ExtractSettings(short_side=32)
    video = open_source("video", index, s)
    vid = video.videos.video_id.iloc[0]
    a = video.read_clip(vid, [1, 2, 3])
    b = pickle.loads(pickle.dumps(video)).read_clip(vid, [1, 2, 3])
    assert np.array_equal(a, b) and min(a.shape[1:3]) == 32
    with pytest.raises(Exception, match="source must be one of frames, video"):
        open_source("jpeg", index)


def test_truncated_video_is_a_named_clip_read_error(data, tmp_path):
    from e3d.artifacts import Provenance

    base, root, df, names, index = data
    src = root / "long.mp4"
    bad_root = tmp_path / "raw"
    bad_root.mkdir()
    os.symlink(root / "sth.webm", bad_root / "sth.webm")
    data_bytes = src.read_bytes()
    (bad_root / "long.mp4").write_bytes(data_bytes)
    listing = Listing(["a", "b"], [Entry("long", "long.mp4", "a", "train"), Entry("sth", "sth.webm", "b", "train")])
    bad_df = index_listing(listing, bad_root, progress=False)
    idx_path = tmp_path / "index.parquet"
    write_index(idx_path, bad_df, ["a", "b"], bad_root, Provenance.make("e3d.video_index", 1, None, ()))
    video = VideoSource(idx_path, ExtractSettings(short_side=32))
    assert video.read_clip("long", [40, 44]).shape[0] == 2
    # cut after indexing, as a disk or copy error would at training time
    (bad_root / "long.mp4").write_bytes(data_bytes[: len(data_bytes) // 3])
    fresh = VideoSource(idx_path, ExtractSettings(short_side=32))
    with pytest.raises(ClipReadError) as err:
        fresh.read_clip("long", [40, 44])
    assert err.value.video_id == "long" and str(bad_root / "long.mp4") in str(err.value)
    assert err.value.reason.startswith("decode failed")
    (bad_root / "long.mp4").unlink()
    with pytest.raises(ClipReadError, match="long.mp4"):
        fresh.read_clip("long", [0])
    assert fresh.read_clip("sth", [0, 1]).shape[0] == 2  # one bad file does not poison the source


def _open_video_fds(root):
    fds = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(root)):
            fds.append(target)
    return fds


class _Clips:
    def __init__(self, source):
        self.source = source
        self.ids = source.videos.video_id.tolist()

    def __len__(self):
        return 8

    def __getitem__(self, i):
        import torch

        vid = self.ids[i % len(self.ids)]
        n = self.source.num_frames(vid)
        return torch.from_numpy(self.source.read_clip(vid, [(i * 5 + k * 2) % n for k in range(4)])).float().mean()


@pytest.mark.slow
def test_dataloader_workers_finish_and_close_every_video(data):
    import threading

    import torch

    base, root, df, names, index = data
    source = VideoSource(index, ExtractSettings(short_side=32))
    threads_before = threading.active_count()
    loader = torch.utils.data.DataLoader(_Clips(source), batch_size=2, num_workers=2,
                                         multiprocessing_context="fork", timeout=120)
    out = torch.cat([b for b in loader])
    assert out.shape == (8,) and torch.isfinite(out).all()
    # in-process reads too: every container is closed when read_clip returns
    for i in range(4):
        _Clips(source)[i]
    assert _open_video_fds(root) == []
    assert threading.active_count() == threads_before
