"""Frame store vs PySlowFast-style decoding: clips/s of 16-frame clips, extraction throughput, store size.

Baseline (PySlowFast's PyAV path): open the video, decode every frame, convert every frame to RGB, then
sample the clip's frames and resize them to the store's short side. Ours: FrameStore.read_clip on the
store written by `e3d extract`, which reads only the row groups holding the clip and decodes only its
JPEGs. Both read the same (video, indices) pairs in the same process, so the ratio is what matters.

    python benchmarks/bench_frame_store.py [--clips-per-class 4 --min-side 128 --max-side 256 --short-side 128]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def pyslowfast_clip(path: Path, indices: np.ndarray, short_side: int) -> np.ndarray:
    import av
    from PIL import Image

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "SLICE"
        stream.codec_context.thread_count = 1
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    out = []
    for i in indices:
        im = Image.fromarray(frames[int(i) % len(frames)])
        w, h = im.size
        scale = short_side / min(w, h)
        out.append(np.asarray(im.resize((round(w * scale), round(h * scale)), Image.BILINEAR)))
    return np.stack(out)


def main() -> None:
    from e3d.data.extract import ExtractSettings, extract
    from e3d.data.index import build_index
    from e3d.data.sampling import random_clip_indices
    from e3d.data.store import FrameStore
    from e3d.data.synth import SynthSettings, write_dataset

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--clips-per-class", type=int, default=3)
    ap.add_argument("--min-side", type=int, default=128)
    ap.add_argument("--max-side", type=int, default=256)
    ap.add_argument("--min-seconds", type=float, default=3.0)
    ap.add_argument("--max-seconds", type=float, default=5.0)
    ap.add_argument("--short-side", type=int, default=128)
    ap.add_argument("--clips", type=int, default=60, help="16-frame clips read by each method")
    ap.add_argument("--clip-len", type=int, default=16)
    ap.add_argument("--rate", type=int, default=2)
    ap.add_argument("--dir", type=Path, default=None, help="work directory (default: a temporary one)")
    args = ap.parse_args()

    work = args.dir or Path(tempfile.mkdtemp(prefix="e3d-bench-"))
    raw = work / "raw"
    settings = SynthSettings(classes=args.classes, clips_per_class=args.clips_per_class, min_side=args.min_side,
                             max_side=args.max_side, min_seconds=args.min_seconds, max_seconds=args.max_seconds)
    print(f"dataset: {args.classes * args.clips_per_class} synthetic videos, sides {args.min_side}-{args.max_side} px, "
          f"{args.min_seconds}-{args.max_seconds} s -> {work}")
    write_dataset(raw, settings, threads=2)
    index, names = build_index("synthetic", raw, progress=False)

    # Extraction throughput on one core (one decoding process).
    t0 = time.process_time()
    w0 = time.perf_counter()
    manifest = extract(index, raw, work / "frames", ExtractSettings(short_side=args.short_side, shards=4), names,
                       threads=1)
    cpu, wall = time.process_time() - t0, time.perf_counter() - w0
    frames = manifest["num_frames"]
    raw_bytes = sum((raw / p).stat().st_size for p in index.path)
    print(f"extraction: {frames} frames in {wall:.1f} s wall, {cpu:.1f} s CPU -> "
          f"{frames / cpu:.0f} frames/s per core ({frames / wall:.0f} frames/s wall)")
    print(f"store size: {manifest['bytes'] / 1e6:.2f} MB vs raw videos {raw_bytes / 1e6:.2f} MB "
          f"(x{manifest['bytes'] / raw_bytes:.2f}) at short side {args.short_side}, JPEG quality "
          f"{manifest['settings']['quality']}")

    store = FrameStore(work / "frames")
    rng = np.random.default_rng(0)
    picks = []
    for k in range(args.clips):
        row = index.iloc[k % len(index)]
        picks.append((row.video_id, raw / row.path,
                      random_clip_indices(int(store.num_frames(row.video_id)), args.clip_len, args.rate, rng)))

    def timed(fn) -> float:
        fn(*picks[0])  # warm-up: file opening, imports
        start = time.perf_counter()
        for p in picks:
            fn(*p)
        return len(picks) / (time.perf_counter() - start)

    ours = timed(lambda vid, path, idx: store.read_clip(vid, idx))
    base = timed(lambda vid, path, idx: pyslowfast_clip(path, idx, args.short_side))
    a = store.read_clip(picks[0][0], picks[0][2])
    b = pyslowfast_clip(picks[0][1], picks[0][2], args.short_side)
    print(f"same clip shape: ours {a.shape}, baseline {b.shape}")
    print(f"clips/s ({args.clip_len} frames, rate {args.rate}): frame store {ours:.1f}, "
          f"PySlowFast-style decode-all {base:.1f}, ratio x{ours / base:.1f} (target >= 2x)")


if __name__ == "__main__":
    main()
