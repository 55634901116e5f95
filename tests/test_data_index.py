"""Dataset adapters (all six native layouts) and the video index, including every bad-input case."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from e3d.data.adapters import AnnotationError, strip_template
from e3d.data.index import NoUsableVideosError, build_index, check_usable, read_index, summarise
from e3d.data.synth import encode

W, H = 48, 32


def make_video(path: Path, frames: int = 12, fps: int = 15, container: str | None = None) -> Path:
    container = container or ("webm" if path.suffix == ".webm" else "mp4")
    rng = np.random.default_rng(frames)
    x = rng.integers(0, 255, size=(frames, H, W, 3), dtype=np.uint8)
    encode(x, path, fps, container)
    return path


def make_jpeg_folder(folder: Path, frames: int = 10) -> Path:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(frames):
        Image.fromarray(np.full((H, W, 3), i * 20, np.uint8)).save(folder / f"{i + 1:05d}.jpg")
    return folder


def rows(df):
    return {r.video_id: r for r in df.itertuples(index=False)}


# ------------------------------------------------------------------ native layouts


def test_kinetics_cvdf_csvs_with_per_split_per_class_folders(tmp_path):
    root = tmp_path / "k400"
    make_video(root / "train" / "abseiling" / "aaa_000001_000011.mp4")
    make_video(root / "train" / "air drumming" / "bbb_000000_000010.mp4")
    make_video(root / "val" / "ccc_000005_000015.webm")  # flat per-split folder, VP9
    make_video(root / "test" / "ddd.mp4")  # mirror naming {youtube_id}.mp4
    ann = tmp_path / "ann"
    ann.mkdir()
    (ann / "train.csv").write_text("label,youtube_id,time_start,time_end,split\n"
                                   "abseiling,aaa,1,11,train\n\"air drumming\",bbb,0,10,train\n")
    (ann / "validate.csv").write_text("label,youtube_id,time_start,time_end,split\nabseiling,ccc,5,15,val\n")
    (ann / "test.csv").write_text("youtube_id,time_start,time_end,split\nddd,0,10,test\n")
    df, classes = build_index("kinetics400", root, ann, progress=False)
    assert classes == ["abseiling", "air drumming"]
    r = rows(df)
    assert set(r) == {"aaa_000001_000011", "bbb_000000_000010", "ccc_000005_000015", "ddd_000000_000010"}
    assert (df.status == "ok").all(), df.reason.tolist()
    assert r["bbb_000000_000010"].label == 1 and r["bbb_000000_000010"].path == "train/air drumming/bbb_000000_000010.mp4"
    assert r["ccc_000005_000015"].split == "val" and r["ccc_000005_000015"].codec == "vp9"
    assert r["ddd_000000_000010"].label == -1 and r["ddd_000000_000010"].split == "test"
    a = r["aaa_000001_000011"]
    assert (a.num_frames, a.width, a.height, a.codec) == (12, W, H, "h264")
    assert a.fps == pytest.approx(15.0) and a.duration == pytest.approx(12 / 15)


def test_kinetics_pyslowfast_path_label_lists(tmp_path):
    root = tmp_path / "k"
    make_video(root / "x" / "v1.mp4")
    make_video(root / "x" / "v2.mp4")
    (tmp_path / "train.csv").write_text("x/v1.mp4 2\n")
    (tmp_path / "val.csv").write_text("x/v2.mp4 0\n")
    classes = tmp_path / "names.txt"
    classes.write_text("a\nb\nc\n")
    df, names = build_index("kinetics400", root, tmp_path / "train.csv", progress=False)
    assert names == ["0", "1", "2"] and rows(df)["v1"].label == 2 and rows(df)["v1"].split == "train"
    df, names = build_index("kinetics400", root, tmp_path / "val.csv", classes=classes, progress=False)
    assert names == ["a", "b", "c"] and rows(df)["v2"].label_name == "a"


def test_something_something_v1_frame_folders(tmp_path):
    root = tmp_path / "20bn-something-something-v1"
    make_jpeg_folder(root / "1", 10)
    make_jpeg_folder(root / "2", 9)
    make_jpeg_folder(root / "3", 10)
    (tmp_path / "something-something-v1-labels.csv").write_text("Holding something\nPushing something from left to right\n")
    (tmp_path / "something-something-v1-train.csv").write_text("1;Pushing something from left to right\n2;Holding something\n")
    (tmp_path / "something-something-v1-validation.csv").write_text("3;Holding something\n")
    df, names = build_index("sthv1", root, progress=False)
    r = rows(df)
    assert names[1] == "Pushing something from left to right"
    assert r["1"].label == 1 and r["1"].num_frames == 10 and r["1"].fps == 12.0 and r["1"].codec == "jpeg"
    assert (r["2"].width, r["2"].height) == (W, H) and r["3"].split == "val"


def test_something_something_v2_webm_with_json_and_templates(tmp_path):
    root = tmp_path / "20bn-something-something-v2"
    make_video(root / "101.webm")
    make_video(root / "102.webm", frames=14)
    labels = tmp_path / "labels"
    labels.mkdir()
    (labels / "labels.json").write_text(json.dumps({"Putting something on something": "0",
                                                     "Moving something from left to right": "1"}))
    (labels / "train.json").write_text(json.dumps([{"id": "101", "label": "putting a cup on a box",
                                                    "template": "Putting [something] on [something]",
                                                    "placeholders": ["a cup", "a box"]}]))
    (labels / "validation.json").write_text(json.dumps([{"id": "102", "template": "Moving [something] from left to right"}]))
    df, names = build_index("sthv2", root, progress=False)
    r = rows(df)
    assert r["101"].label == 0 and r["102"].label == 1 and r["102"].split == "val"
    # PyAV reports no frame count for these WebM files: the index counts them itself
    assert r["102"].num_frames == 14 and r["102"].codec == "vp9" and r["102"].fps == pytest.approx(15)
    assert strip_template("Putting [something] on [something]") == "Putting something on something"


def _ucf_layout(tmp_path):
    root = tmp_path / "UCF-101"
    for cls in ("ApplyEyeMakeup", "Archery"):
        for g in (1, 8):
            make_video(root / cls / f"v_{cls}_g{g:02d}_c01.avi", container="mp4")
    lists = tmp_path / "ucfTrainTestlist"
    lists.mkdir()
    (lists / "classInd.txt").write_text("1 ApplyEyeMakeup\n2 Archery\n")
    for n in (1, 2):
        train_g, test_g = (8, 1) if n == 1 else (1, 8)
        (lists / f"trainlist0{n}.txt").write_text("".join(
            f"{c}/v_{c}_g{train_g:02d}_c01.avi {i + 1}\n" for i, c in enumerate(("ApplyEyeMakeup", "Archery"))))
        (lists / f"testlist0{n}.txt").write_text("".join(
            f"{c}/v_{c}_g{test_g:02d}_c01.avi\n" for c in ("ApplyEyeMakeup", "Archery")))
    return root


def test_ucf101_class_ind_and_configurable_split(tmp_path):
    root = _ucf_layout(tmp_path)
    df1, names = build_index("ucf101", root, split_number=1, progress=False)
    df2, _ = build_index("ucf101", root, split_number=2, progress=False)
    assert names == ["ApplyEyeMakeup", "Archery"]
    assert rows(df1)["v_Archery_g08_c01"].split == "train" and rows(df2)["v_Archery_g08_c01"].split == "test"
    assert rows(df1)["v_Archery_g01_c01"].label == 1  # test list has no label: taken from the class folder
    assert (df1.status == "ok").all()


def test_hmdb51_per_class_split_files(tmp_path):
    root = tmp_path / "hmdb51_org"
    make_video(root / "brush_hair" / "a.avi", container="mp4")
    make_video(root / "brush_hair" / "b.avi", container="mp4")
    make_video(root / "cartwheel" / "c.avi", container="mp4")
    splits = tmp_path / "testTrainMulti_7030_splits"
    splits.mkdir()
    (splits / "brush_hair_test_split1.txt").write_text("a.avi 1 \nb.avi 2 \n")
    (splits / "cartwheel_test_split1.txt").write_text("c.avi 0 \n")
    df, names = build_index("hmdb51", root, progress=False)
    r = rows(df)
    assert names == ["brush_hair", "cartwheel"]
    assert r["a"].split == "train" and r["b"].split == "test" and "c" not in r  # 0: not in this split


def test_synthetic_layout_keeps_class_order(tmp_path):
    from e3d.data.synth import SynthSettings, write_dataset

    settings = SynthSettings(classes=3, clips_per_class=2, min_side=32, max_side=32, min_seconds=1, max_seconds=1,
                             min_fps=12, max_fps=12, webm_fraction=0.5)
    write_dataset(tmp_path / "syn", settings)
    df, names = build_index("synthetic", tmp_path / "syn", progress=False)
    assert names == ["moving left to right", "moving right to left", "approaching"]
    assert (df.status == "ok").all() and sorted(df.label.unique()) == [0, 1, 2]
    assert set(df.split) == {"train", "val"} and set(df.codec) <= {"h264", "vp9"}


# ------------------------------------------------------------------ bad input


@pytest.fixture
def bad_dataset(tmp_path, monkeypatch):
    """A Kinetics-style path list where nearly every line is one bad-input case."""
    root = tmp_path / "root"
    root.mkdir()
    good = make_video(root / "good.mp4")
    make_video(root / "dup.mp4")
    make_video(root / "vidéo_日本.mp4")  # non-ASCII name: must be read correctly
    make_video(root / "short.mp4", frames=4)
    make_video(root / "noframecount.webm", frames=10)
    (root / "empty.mp4").write_bytes(b"")
    (root / "text.mp4").write_text("this is not a video\n" * 20)
    data = good.read_bytes()
    (root / "truncated.mp4").write_bytes(data[: len(data) // 2])
    noperm = make_video(root / "noperm.mp4")
    os.chmod(noperm, 0)
    if os.geteuid() == 0:  # root reads anything: make the permission check see what a user would
        import e3d.data.probe as probe_mod

        real_access = os.access
        monkeypatch.setattr(probe_mod.os, "access", lambda p, m: False if Path(p) == noperm else real_access(p, m))
    _audio_only(root / "audio.mp4")
    make_video(tmp_path / "outside.mp4")
    (tmp_path / "train.csv").write_text("\n".join([
        "good.mp4 0", "dup.mp4 1", "dup.mp4 1", "vidéo_日本.mp4 1", "short.mp4 0", "noframecount.webm 0",
        "empty.mp4 0", "text.mp4 0", "truncated.mp4 0", "noperm.mp4 0", "audio.mp4 0", "missing.mp4 0",
        "../outside.mp4 0", "good_unknown.mp4 7",
    ]) + "\n")
    classes = tmp_path / "classes.txt"
    classes.write_text("zero\none\n")
    yield root, tmp_path / "train.csv", classes
    os.chmod(noperm, 0o644)


def _audio_only(path: Path) -> None:
    import av

    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=8000)
        stream.layout = "mono"
        for i in range(4):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 8000, i * 1024
            for p in stream.encode(frame):
                out.mux(p)
        for p in stream.encode():
            out.mux(p)


def test_every_bad_input_is_read_or_skipped_with_its_reason(bad_dataset):
    root, ann, classes = bad_dataset
    df, names = build_index("kinetics400", root, ann, classes=classes, min_frames=8, threads=2, progress=False)
    by_path = {}
    for r in df.itertuples(index=False):
        by_path.setdefault(r.path, []).append(r)
    reason = lambda p: by_path[p][0].reason  # noqa: E731
    assert by_path["good.mp4"][0].status == "ok"
    assert by_path["vidéo_日本.mp4"][0].status == "ok" and by_path["vidéo_日本.mp4"][0].label_name == "one"
    assert by_path["noframecount.webm"][0].status == "ok" and by_path["noframecount.webm"][0].num_frames == 10
    assert [r.status for r in by_path["dup.mp4"]] == ["ok", "skipped"]
    assert by_path["dup.mp4"][1].reason.startswith("duplicate id")
    assert reason("short.mp4") == "shorter than one clip: 4 frames < 8"
    assert reason("empty.mp4").startswith("empty file")
    assert reason("text.mp4").startswith("not a video")
    assert reason("truncated.mp4").startswith(("truncated", "not a video"))
    assert reason("noperm.mp4").startswith("unreadable file")
    assert reason("audio.mp4").startswith("no video stream")
    assert reason("missing.mp4") == "missing file"
    assert reason("../outside.mp4").startswith("path escapes dataset root")
    assert reason("good_unknown.mp4").startswith("unknown label")  # unknown label checked before the file
    assert ((df.status == "ok") == (df.reason == "")).all()
    summary = summarise(df, names)
    assert summary["num_videos"] == 14 and summary["num_ok"] == 4
    assert summary["skipped_by_reason"]["missing file"] == 1
    assert summary["skipped_by_reason"]["duplicate id"] == 1
    check_usable(df, summary, "bad")  # some usable: no error


def test_truncated_faststart_mp4_is_detected(tmp_path):
    """An MP4 whose header (moov) comes first still declares all frames when the data is cut off."""
    import av

    src = make_video(tmp_path / "src.mp4", frames=40)
    fast = tmp_path / "fast.mp4"
    with av.open(str(src)) as inp, av.open(str(fast), "w", format="mp4", options={"movflags": "faststart"}) as out:
        s_in = inp.streams.video[0]
        s_out = out.add_stream_from_template(s_in)
        for packet in inp.demux(s_in):
            if packet.dts is None:
                continue
            packet.stream = s_out
            out.mux(packet)
    data = fast.read_bytes()
    root = tmp_path / "r"
    root.mkdir()
    (root / "cut.mp4").write_bytes(data[: int(len(data) * 0.6)])
    (tmp_path / "train.csv").write_text("cut.mp4 0\nsrc.mp4 0\n")
    os.replace(src, root / "src.mp4")
    df, _ = build_index("kinetics400", root, tmp_path / "train.csv", min_frames=2, progress=False)
    r = {x.path: x for x in df.itertuples(index=False)}
    assert r["src.mp4"].status == "ok" and r["src.mp4"].num_frames == 40
    assert r["cut.mp4"].status == "skipped" and r["cut.mp4"].reason.startswith(("truncated", "not a video"))


def test_nothing_usable_fails_with_a_clear_error(tmp_path, cli_env):
    root = tmp_path / "root"
    root.mkdir()
    (root / "a.mp4").write_text("not a video")
    (tmp_path / "train.csv").write_text("a.mp4 0\nb.mp4 0\n")
    df, names = build_index("kinetics400", root, tmp_path / "train.csv", progress=False)
    with pytest.raises(NoUsableVideosError, match=r"none of its 2 videos is usable \(missing file: 1, not a video: 1\)"):
        check_usable(df, summarise(df, names), "broken")
    out = subprocess.run([sys.executable, "-m", "e3d.cli", "index", "--format", "kinetics400", "--root", str(root),
                          "--annotations", str(tmp_path / "train.csv"), "--out", str(tmp_path / "i.parquet")],
                         capture_output=True, text=True, env=cli_env)
    assert out.returncode == 2, out.stderr
    errors = [ln for ln in out.stderr.splitlines() if not ln.startswith("[index]")]
    assert len(errors) == 1 and errors[0].startswith("e3d: error: dataset root: none of its 2 videos is usable")
    assert not (tmp_path / "i.parquet").exists()
    assert json.loads((tmp_path / "index_summary.json").read_text())["skipped_by_reason"] == {
        "missing file": 1, "not a video": 1}


def test_bad_annotations_name_the_file(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "train.csv").write_text("only_a_path_no_label\n")
    with pytest.raises(AnnotationError, match=r"train.csv:1: expected 'path label'"):
        build_index("kinetics400", root, tmp_path / "train.csv", progress=False)
    with pytest.raises(AnnotationError, match="classInd.txt not found"):
        build_index("ucf101", root, tmp_path, progress=False)


def test_index_cli_writes_versioned_parquet_and_summary(tmp_path, cli_env):
    root = tmp_path / "root"
    make_video(root / "a.mp4")
    (root / "b.mp4").write_bytes(b"")
    (tmp_path / "train.csv").write_text("a.mp4 0\nb.mp4 0\n")
    out = subprocess.run([sys.executable, "-m", "e3d.cli", "index", "--format", "kinetics400", "--root", str(root),
                          "--annotations", str(tmp_path / "train.csv"), "--out", str(tmp_path / "d" / "index.parquet")],
                         capture_output=True, text=True, env=cli_env)
    assert out.returncode == 0, out.stderr
    assert "1 of 2 videos usable" in out.stdout and "empty file" in out.stdout
    df, names, recorded_root = read_index(tmp_path / "d" / "index.parquet")
    assert list(df.columns) == ["video_id", "path", "label", "label_name", "split", "num_frames", "fps", "duration",
                                "width", "height", "codec", "status", "reason"]
    assert df.label.dtype == np.int64 and df.fps.dtype == np.float64 and recorded_root == root and names == ["0"]
    summary = json.loads((tmp_path / "d" / "index_summary.json").read_text())
    assert summary["skipped_by_reason"] == {"empty file": 1} and summary["provenance"]["schema"] == "e3d.video_index_summary"
