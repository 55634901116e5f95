"""`e3d extract`: decode the usable videos of an index into a sharded JPEG frame store."""

from __future__ import annotations

import argparse
from pathlib import Path

from e3d.data.extract import ExtractSettings
from e3d.settingspec import add_flags, key_names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--index", required=True, type=Path, help="index.parquet written by `e3d index`")
    parser.add_argument("--root", type=Path, default=None,
                        help="dataset root the index paths are relative to (default: recorded in the index)")
    parser.add_argument("--out", required=True, type=Path, help="frame store directory to write")
    parser.add_argument("--threads", type=int, default=1, help="decoding processes (bounded by the job's threads)")
    # the settings' flags: type, default and help from ExtractSettings, as the config's data.datasets.NAME.extract
    add_flags(parser, ExtractSettings, key_names(ExtractSettings))


def run(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from e3d.data.extract import extract
    from e3d.data.index import read_index
    from e3d.provenance import STAGE_MODULES

    settings = ExtractSettings(**{key: getattr(args, key) for key in key_names(ExtractSettings)})
    index, class_names, recorded_root = read_index(args.index)
    root = args.root or recorded_root
    manifest = extract(index, Path(root), args.out, settings, class_names, threads=max(1, args.threads),
                       provenance_config=asdict(settings), code_modules=STAGE_MODULES["data"],
                       dataset=args.index.parent.name)
    print(f"extract: {manifest['num_videos']} videos, {manifest['num_frames']} frames in "
          f"{len(manifest['shards'])} shards ({manifest['bytes'] / 1e6:.1f} MB), "
          f"{len(manifest['failed'])} failed to decode -> {args.out}")
    return 0
