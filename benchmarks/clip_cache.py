"""Frame store vs decoded-clip cache (issue 14): clips/s of reading + augmenting training clips, and of training.

1. read_clip + train_augment (TrainClips.__getitem__: the sampler, the read, the augmentation) of the same (video,
   indices, random draws) from the frame store and from the cache, in the same process, rounds alternating so that
   the load of a shared machine falls on both alike; the ratio cache / store.
2. With --train: one epoch of the default model (spec:config/archs/e3d-initial-t3.json, the default config's
   train.settings + dataset_settings.synthetic) from the store, then from the cache, back to back in this process;
   clips/s is the metrics' last epoch (all steps, data and model); --train-rounds repeats them in alternating order.
   Run with E3D_JOB_CPUS set as the workflow's job would be (on 1-3 CPUs the loop uses no loader workers: data and
   model take turns on the same cores).

The cache is built here (its build time printed) unless --cache names an existing one.

    E3D_JOB_CPUS=2 python benchmarks/clip_cache.py --store work/data/synthetic/frames --train
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def default_settings(epochs: int):
    from e3d.config import load_config
    from e3d.train.settings import TrainSettings
    from e3d.train.workflow import TrainConfig

    merged = TrainConfig(load_config(REPO / "config" / "config.yaml")).settings("synthetic", "e3d-initial-t3")
    return TrainSettings.from_dict({**merged, "epochs": epochs, "checkpoint_every": 0})


def clips_per_s(dataset, keys) -> float:
    t0 = time.perf_counter()
    for key in keys:
        dataset[key]
    return len(keys) / (time.perf_counter() - t0)


def main() -> None:
    import numpy as np
    import torch

    from e3d.data.cache import ClipCache, write_cache
    from e3d.data.settings import needed_short_side
    from e3d.data.store import FrameStore
    from e3d.provenance import STAGE_MODULES
    from e3d.train.clips import TrainClips, split_rows
    from e3d.train.model_source import run_sampler

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", required=True, type=Path, help="frame store directory (e3d extract)")
    ap.add_argument("--cache", type=Path, default=None, help="an existing cache of it (default: build one)")
    ap.add_argument("--cache-dir", type=Path, default=None, help="where to build the cache (default: a temp dir)")
    ap.add_argument("--threads", type=int, default=2, help="processes building the cache")
    ap.add_argument("--clips", type=int, default=1600, help="training clips read per round from each source")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--train", action="store_true", help="also one training epoch from each source")
    ap.add_argument("--train-rounds", type=int, default=1, help="training epochs from each source, alternating")
    ap.add_argument("--arch", default="spec:config/archs/e3d-initial-t3.json")
    args = ap.parse_args()

    s = default_settings(epochs=1)
    short = needed_short_side(s.crop, s.short_side_scale)
    store = FrameStore(args.store)
    out: dict = {"settings": {"crop": s.crop, "frames": s.frames, "short_side_scale": list(s.short_side_scale),
                              "sampling": s.sampling}, "load_before": os.getloadavg()}
    if args.cache is None:
        cache_dir = args.cache_dir or Path(tempfile.mkdtemp(prefix="e3d-cache-")) / "cache"
        t0 = time.perf_counter()
        write_cache(store, cache_dir, min(short, int(store.settings["short_side"]) or short), threads=args.threads,
                    code_modules=STAGE_MODULES["cache"])
        out["cache_build_s"] = round(time.perf_counter() - t0, 1)
        out["cache_build_threads"] = args.threads
    else:
        cache_dir = args.cache
    cache = ClipCache(cache_dir)
    out["cache_short_side"] = cache.short_side
    out["cache_bytes"] = cache.manifest["bytes"]
    out["store_bytes"] = int(store.manifest["bytes"])
    out["frames"] = int(cache.manifest["num_frames"])

    torch.set_num_threads(1)  # one reader, as a DataLoader worker or the 2-CPU training loop's main process
    record = {"kind": "spec"}
    sampler = run_sampler(record, s.sampling, s.frames)
    datasets = {name: TrainClips(src, split_rows(src, "train"), s, sampler)
                for name, src in (("store", store), ("cache", cache))}
    n = len(datasets["store"])
    rates: dict[str, list[float]] = {"store": [], "cache": []}
    for r in range(args.rounds):
        perm = np.random.default_rng([7, r]).permutation(np.arange(args.clips) % n)
        keys = [(r, pos, int(row)) for pos, row in enumerate(perm)]
        for name in ("store", "cache") if r % 2 == 0 else ("cache", "store"):
            rates[name].append(clips_per_s(datasets[name], keys))
    out["read_augment_clips_per_s"] = {k: [round(v, 1) for v in vs] for k, vs in rates.items()}
    best = {k: max(vs) for k, vs in rates.items()}
    out["read_augment_ratio_cache_over_store"] = round(best["cache"] / best["store"], 2)
    out["read_augment_ms_per_clip"] = {k: round(1000 / v, 2) for k, v in best.items()}

    if args.train:
        from e3d.train.loop import train
        from e3d.train.model_source import ModelOptions, resolve

        os.chdir(REPO)
        record = resolve(args.arch, ModelOptions(frames=s.frames, resolution=s.crop, se_ratio=0.0, act="relu"))
        train_rates: dict[str, list[float]] = {"store": [], "cache": []}
        sources = {"store": store, "cache": cache}
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(args.train_rounds):
                for name in ("store", "cache") if r % 2 == 0 else ("cache", "store"):
                    d = f"{tmp}/{name}{r}"
                    res = train(sources[name], record, s, f"{d}/out", f"{d}/state", log=lambda m: None)
                    train_rates[name].append(round(res.metrics[-1]["clips_per_s"], 1))
        out["train_clips_per_s"] = train_rates
        out["train_ratio_cache_over_store"] = round(max(train_rates["cache"]) / max(train_rates["store"]), 2)
        out["job_cpus"] = os.environ.get("E3D_JOB_CPUS")
    out["load_after"] = os.getloadavg()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
