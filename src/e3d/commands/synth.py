"""`e3d synth`: write the built-in synthetic video dataset (Kinetics-400 layout)."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

from e3d.data.synth import SynthSettings
from e3d.settingspec import add_flags, key_names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, type=Path, help="dataset root to write")
    parser.add_argument("--threads", type=int, default=1, help="worker processes (output does not depend on it)")
    # the settings' flags: type, default and help from SynthSettings, as the config's data.datasets.NAME.synth
    add_flags(parser, SynthSettings, key_names(SynthSettings))


def run(args: argparse.Namespace) -> int:
    from e3d.artifacts import Provenance, write_json
    from e3d.data.synth import plan, write_dataset
    from e3d.progress import Progress
    from e3d.provenance import STAGE_MODULES

    settings = SynthSettings(**{key: getattr(args, key) for key in key_names(SynthSettings)})
    total = len(plan(settings))
    with Progress(total=total, desc="synth", unit="clips") as bar:
        summary = write_dataset(args.out, settings, on_clip=lambda spec: bar.update(1, note=spec.video_id),
                                threads=max(1, args.threads))
    write_json(args.out / "synth.json", summary, Provenance.make("e3d.synth", 1, asdict(settings), STAGE_MODULES["data"]))
    print(f"synth: {summary['num_videos']} clips ({summary['containers']}), {summary['num_frames']} frames, "
          f"{len(summary['class_names'])} classes, splits {summary['splits']} -> {args.out}")
    return 0
