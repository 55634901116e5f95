"""`e3d synth`: write the built-in synthetic video dataset (Kinetics-400 layout)."""

from __future__ import annotations

import argparse
from dataclasses import asdict, fields
from pathlib import Path

from e3d.data.synth import SynthSettings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, type=Path, help="dataset root to write")
    parser.add_argument("--threads", type=int, default=1, help="worker processes (output does not depend on it)")
    for f in fields(SynthSettings):
        flag = "--" + f.name.replace("_", "-")
        parser.add_argument(flag, type=type(f.default), default=f.default, help=f"(default {f.default})")


def run(args: argparse.Namespace) -> int:
    from e3d.artifacts import Provenance, write_json
    from e3d.data.synth import plan, write_dataset
    from e3d.progress import Progress
    from e3d.provenance import STAGE_MODULES

    settings = SynthSettings(**{f.name: getattr(args, f.name) for f in fields(SynthSettings)})
    total = len(plan(settings))
    with Progress(total=total, desc="synth", unit="clips") as bar:
        summary = write_dataset(args.out, settings, on_clip=lambda spec: bar.update(1, note=spec.video_id),
                                threads=max(1, args.threads))
    write_json(args.out / "synth.json", summary, Provenance.make("e3d.synth", 1, asdict(settings), STAGE_MODULES["data"]))
    print(f"synth: {summary['num_videos']} clips ({summary['containers']}), {summary['num_frames']} frames, "
          f"{len(summary['class_names'])} classes, splits {summary['splits']} -> {args.out}")
    return 0
