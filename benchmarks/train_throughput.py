"""Training throughput of two architectures on the same frame store, printed as a ratio (issue 4's GPU check).

    torchrun --standalone --nproc_per_node=8 benchmarks/train_throughput.py --store work/data/synthetic/frames \
        --arch builtin:e3d-m --baseline builtin:x3d-m --frames 16 --crop 224 --epochs 1

Each model trains with the real loop (DDP, bf16, channels_last_3d and SyncBatchNorm on GPUs) for --epochs; the
figure is the clips/s of its last epoch from the metrics Parquet (all processes together). Ratio > 1: --arch
trains faster than --baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile

from e3d.data.store import FrameStore
from e3d.train.loop import train
from e3d.train.model_source import ModelOptions, resolve
from e3d.train.settings import TrainSettings


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--store", required=True)
    p.add_argument("--arch", default="builtin:e3d-m")
    p.add_argument("--baseline", default="builtin:x3d-m")
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--crop", type=int, default=224)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=16)
    args = p.parse_args()
    store = FrameStore(args.store)
    settings = TrainSettings.from_dict({"epochs": args.epochs, "batch_size": args.batch_size, "frames": args.frames,
                                        "crop": args.crop, "checkpoint_every": 0, "flip": False, "lr": 0.1})
    rates = {}
    with tempfile.TemporaryDirectory() as tmp:
        for ref in (args.baseline, args.arch):
            record = resolve(ref, ModelOptions(frames=args.frames, resolution=args.crop))
            d = os.path.join(tmp, ref.replace(":", "_").replace("/", "_"))
            res = train(store, record, settings, d + "/out", d + "/state")
            rates[ref] = res.metrics[-1]["clips_per_s"]
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps({"clips_per_s": rates, "ratio": rates[args.arch] / rates[args.baseline],
                          "frames": args.frames, "crop": args.crop, "world": int(os.environ.get("WORLD_SIZE", "1"))}))


if __name__ == "__main__":
    main()
