"""Clip readers side by side: 16-frame clips/s per core and peak memory of our frame store, our `video` source,
torchcodec and decord, on the same ffmpeg-made videos; plus extraction throughput and store size against the
raw videos.

Datasets (written by the ffmpeg command line, x264/libvpx defaults apart from what is named):
- kinetics: H.264 (libx264 preset medium, crf 23: keyframes every 250 frames at most, 3 B-frames), 340x256,
  10 s at 30 fps; clips of 16 frames 5 apart at a random start (X3D-M's sampling), read at the native size.
- sthv2: VP9 webm (libvpx-vp9 crf 32), 427x240 at 12 fps, 4 s; 16 TSN segments x 1 frame (the whole video).
Content: ffmpeg's testsrc2 pattern with a per-video hue and temporal noise (camera-like bitrates; real footage
compresses differently, so sizes are indicative).

Every reader runs in its own process, single-threaded (one decoder thread, one torch thread), on the same
(video, indices) list drawn with the project's clip sampler; clips/s per core = clips / CPU seconds of that
process; peak memory = its peak RSS while reading (the counter reset after the imports and one warm-up clip) and
that peak's growth over the RSS before the timed reads (the reader's own working set; the process baseline holds
numpy/pandas/pyarrow for all, plus torch for torchcodec). Each reader opens the
video for every clip (as a DataLoader item does); our video source also starts cold (its per-process frame
table dropped before every clip), as after a DataLoader worker restart. The peers' frames are compared with ours
(mean absolute difference, 0-255).

    python benchmarks/bench_decoders.py [--videos 6 --clips 30]
Peers: pip install --no-deps -r requirements/bench.txt (and FFmpeg's shared libraries for torchcodec); a missing
peer is reported with the reason and skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DATASETS = {
    "kinetics": dict(ext="mp4", size="340x256", rate=30, seconds=10, short_side=256,
                     codec=["-c:v", "libx264", "-preset", "medium", "-crf", "23"], clip=("clip", 16, 5)),
    "sthv2": dict(ext="webm", size="427x240", rate=12, seconds=4, short_side=240,
                  codec=["-c:v", "libvpx-vp9", "-crf", "32", "-b:v", "0", "-deadline", "good", "-cpu-used", "4"],
                  clip=("segments", 16, 1)),
}
READERS = ("frame store", "video source", "torchcodec", "decord")


def make_videos(out: Path, name: str, n: int) -> list[Path]:
    ds = DATASETS[name]
    if shutil.which("ffmpeg") is None:
        sys.exit("bench_decoders: the ffmpeg command is needed to make the videos (Debian: apt-get install ffmpeg)")
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(n):
        p = out / f"{name}{k:03d}.{ds['ext']}"
        if not p.exists():
            src = f"testsrc2=size={ds['size']}:rate={ds['rate']},hue=h={k * 47 % 360},noise=alls=10:allf=t:all_seed={k}"
            cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", src, "-t", str(ds["seconds"]),
                   "-pix_fmt", "yuv420p", "-threads", "2", *ds["codec"], str(p)]
            subprocess.run(cmd, check=True)
        paths.append(p)
    return paths


def build(work: Path, name: str, n: int, clips: int) -> dict:
    """Videos, index, frame store (timed) and the clip list, for one dataset."""
    from e3d.artifacts import Provenance
    from e3d.data.adapters import Entry, Listing
    from e3d.data.extract import ExtractSettings, extract
    from e3d.data.index import index_listing, write_index
    from e3d.data.sampling import random_clip_indices, settings_sampler

    ds = DATASETS[name]
    root = work / name / "raw"
    paths = make_videos(root, name, n)
    listing = Listing(["a", "b"], [Entry(p.stem, p.name, "ab"[i % 2], "train") for i, p in enumerate(paths)])
    df = index_listing(listing, root, progress=False)
    bad = df[df.status != "ok"]
    if len(bad):
        sys.exit(f"bench_decoders: {bad.path.iloc[0]}: {bad.reason.iloc[0]}")
    index = work / name / "index.parquet"
    write_index(index, df, listing.class_names, root, Provenance.make("e3d.video_index", 1, None, ()))
    settings = ExtractSettings(short_side=ds["short_side"], shards=2)
    store = work / name / "frames"
    shutil.rmtree(store, ignore_errors=True)
    t0, w0 = time.process_time(), time.perf_counter()
    manifest = extract(df, root, store, settings, listing.class_names, threads=1)
    cpu, wall = time.process_time() - t0, time.perf_counter() - w0
    raw_bytes = sum(p.stat().st_size for p in paths)
    kind, frames, rate = ds["clip"]
    sampler = settings_sampler("segments", frames) if kind == "segments" else None
    rng = np.random.default_rng(0)
    picks = []
    for k in range(clips):
        row = df.iloc[k % len(df)]
        nf = int(row.num_frames)
        idx = sampler.train_indices(nf, frames, rate, rng) if sampler else random_clip_indices(nf, frames, rate, rng)
        picks.append([row.video_id, str(root / row.path), [int(i) for i in idx]])
    (work / name / "picks.json").write_text(json.dumps(picks))
    return {"videos": len(paths), "frames": int(manifest["num_frames"]), "extract_cpu_s": cpu, "extract_wall_s": wall,
            "store_bytes": int(manifest["bytes"]), "raw_bytes": int(raw_bytes),
            "seconds": float(df.duration.sum()), "settings": {"short_side": ds["short_side"]}}


# ---------------------------------------------------------------- one reader, in its own process
def reader(kind: str, work: Path, name: str):
    """A function (video_id, path, indices) -> uint8 [T, H, W, 3], or raises ImportError/OSError with the reason."""
    ds = DATASETS[name]
    if kind == "frame store":
        from e3d.data.store import FrameStore

        store = FrameStore(work / name / "frames")
        return lambda vid, path, idx: store.read_clip(vid, idx)
    if kind == "video source":
        from e3d.data.extract import ExtractSettings
        from e3d.data.video import VideoSource

        src = VideoSource(work / name / "index.parquet", ExtractSettings(short_side=ds["short_side"], shards=2))

        def read(vid, path, idx):
            src._tables.clear()  # cold: the frame table is built again, as in a fresh DataLoader worker
            return src.read_clip(vid, idx)

        return read
    if kind == "torchcodec":
        import torch

        torch.set_num_threads(1)
        from torchcodec.decoders import VideoDecoder  # noqa: F401 - fails here when FFmpeg's libraries are missing

        def read(vid, path, idx):
            # exact mode scans the file for the frame index, as our source demuxes it: the same frames by number
            dec = VideoDecoder(path, seek_mode="exact", num_ffmpeg_threads=1, dimension_order="NHWC")
            return dec.get_frames_at(indices=list(idx)).data.numpy()

        return read
    if kind == "decord":
        import decord

        def read(vid, path, idx):
            vr = decord.VideoReader(path, num_threads=1, ctx=decord.cpu(0))
            out = vr.get_batch(list(idx)).asnumpy()
            del vr
            return out

        return read
    raise ValueError(kind)


def status_kb(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def reset_peak() -> bool:
    """Start the peak-RSS counter (VmHWM) afresh, so the imports' peak does not count as reading's."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def worker(kind: str, work: Path, name: str) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    picks = json.loads((work / name / "picks.json").read_text())
    try:
        read = reader(kind, work, name)
        first = read(*picks[0])  # warm-up: imports, file cache
    except (ImportError, OSError, RuntimeError) as exc:
        print(json.dumps({"error": f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:300]}"}))
        return
    before = status_kb("VmRSS")
    fresh = reset_peak()
    t0, w0 = time.process_time(), time.perf_counter()
    for p in picks:
        read(*p)
    cpu, wall = time.process_time() - t0, time.perf_counter() - w0
    peak = status_kb("VmHWM") if fresh else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    np.save(work / name / f"first-{kind.replace(' ', '_')}.npy", first)
    print(json.dumps({"clips": len(picks), "cpu_s": cpu, "wall_s": wall, "peak_rss_mb": peak / 1024,
                      "rss_growth_mb": max(0, peak - before) / 1024, "shape": list(first.shape)}))


def run_worker(kind: str, work: Path, name: str) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, __file__, "--worker", kind, "--dataset", name, "--dir", str(work)],
                       capture_output=True, text=True, env=env, timeout=1200)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if r.returncode != 0 or not lines:
        return {"error": f"exit {r.returncode}: {(r.stderr.strip().splitlines() or ['no output'])[-1][:300]}"}
    return json.loads(lines[-1])


K400_VIDEOS = 240_000  # Kinetics-400 train+val, about 10 s each


def extrapolate(info: dict, rates: dict) -> None:
    """What each choice would cost for Kinetics-400, scaled from this run's per-frame and per-clip figures."""
    frames = K400_VIDEOS * 10 * 30
    per_frame = info["store_bytes"] / info["frames"]
    per_video = info["raw_bytes"] / info["videos"]
    print(f"EXTRAPOLATED to Kinetics-400 ({K400_VIDEOS} videos x 10 s x 30 fps = {frames / 1e6:.0f}M frames, content "
          f"compressing like these videos): frame store {frames * per_frame / 1e12:.2f} TB vs videos "
          f"{K400_VIDEOS * per_video / 1e12:.2f} TB; extraction "
          f"{frames / (info['frames'] / info['extract_cpu_s']) / 3600:.0f} core-hours once")
    for k, r in rates.items():
        print(f"EXTRAPOLATED reading one epoch ({K400_VIDEOS} clips) with the {k}: "
              f"{K400_VIDEOS / r / 3600:.1f} core-hours")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=6, help="videos per dataset")
    ap.add_argument("--clips", type=int, default=30, help="clips read by each reader per dataset")
    ap.add_argument("--datasets", default="kinetics,sthv2")
    ap.add_argument("--dir", type=Path, default=None, help="work directory (default: a temporary one)")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--dataset", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.dir, args.dataset)
        return

    work = args.dir or Path(tempfile.mkdtemp(prefix="e3d-bench-decoders-"))
    print(f"work directory {work}; every reader single-threaded in its own process")
    for name in args.datasets.split(","):
        ds = DATASETS[name]
        info = build(work, name, args.videos, args.clips)
        kind, frames, rate = ds["clip"]
        print(f"\n== {name}: {info['videos']} videos {ds['size']} {ds['rate']} fps {ds['seconds']} s "
              f"({ds['codec'][1]}), clips: {frames} frames "
              + (f"{rate} apart" if kind == "clip" else "as TSN segments") + f", {args.clips} clips")
        fps_core = info["frames"] / info["extract_cpu_s"]
        print(f"extraction (e3d extract, 1 process, short side {ds['short_side']}, JPEG q85): {info['frames']} frames "
              f"in {info['extract_cpu_s']:.1f} CPU s -> {fps_core:.0f} frames/s per core "
              f"({info['seconds'] / info['extract_cpu_s']:.1f} s of video per CPU second)")
        print(f"size: frame store {info['store_bytes'] / 1e6:.2f} MB, raw videos {info['raw_bytes'] / 1e6:.2f} MB: "
              f"store = x{info['store_bytes'] / info['raw_bytes']:.2f} the videos; "
              f"{info['store_bytes'] / info['frames'] / 1e3:.1f} kB per stored frame, "
              f"{info['raw_bytes'] * 8 / info['seconds'] / 1e3:.0f} kbit/s of video")
        results = {k: run_worker(k, work, name) for k in READERS}
        ok = {k: r for k, r in results.items() if "error" not in r}
        rates = {k: r["clips"] / r["cpu_s"] for k, r in ok.items()}
        best = max(rates, key=rates.get) if rates else None
        ref = np.load(work / name / "first-video_source.npy") if "video source" in ok else None
        print(f"{'reader':14s} {'clips/s/core':>12s} {'vs fastest':>10s} {'vs store':>9s} {'peak RSS MB':>11s} "
              f"{'growth MB':>9s} {'|diff| vs ours':>14s}")
        for k in READERS:
            r = results[k]
            if "error" in r:
                peer = k in ("torchcodec", "decord")
                hint = " (install: pip install --no-deps -r requirements/bench.txt)" if peer else ""
                print(f"{k:14s} not measured: {r['error']}{hint}")
                continue
            diff = "-"
            other = np.load(work / name / f"first-{k.replace(' ', '_')}.npy")
            if ref is not None and other.shape == ref.shape:
                diff = f"{np.abs(other.astype(int) - ref.astype(int)).mean():.2f}"
            elif ref is not None:
                diff = f"shape {other.shape}"
            vs_store = f"x{rates[k] / rates['frame store']:.2f}" if "frame store" in rates else "-"
            print(f"{k:14s} {rates[k]:12.1f} {'x' + format(rates[k] / rates[best], '.2f'):>10s} {vs_store:>9s} "
                  f"{r['peak_rss_mb']:11.0f} {r['rss_growth_mb']:9.1f} {diff:>14s}")
        print(f"fastest: {best}")
        if name == "kinetics":
            extrapolate(info, rates)
        (work / name / "results.json").write_text(json.dumps({"info": info, "readers": results}, indent=1))


if __name__ == "__main__":
    main()
