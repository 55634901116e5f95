"""`e3d index`: index a dataset's videos into index.parquet (+ a summary JSON with counts by reason)."""

from __future__ import annotations

import argparse
from pathlib import Path

from e3d.data.settings import INDEX_FLAG_KEYS, DatasetSettings
from e3d.settingspec import add_flags


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # --format, --split, --min-frames: choices, default and help from DatasetSettings, as the config's dataset entry
    add_flags(parser, DatasetSettings, INDEX_FLAG_KEYS, required=("format",))
    parser.add_argument("--root", required=True, type=Path, help="dataset root (videos or frame folders)")
    parser.add_argument("--annotations", type=Path, default=None,
                        help="annotation file or directory (default: the format's usual place)")
    parser.add_argument("--classes", type=Path, default=None, help="class list overriding the format's own")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--name", default=None, help="dataset name for messages (default: root folder name)")
    parser.add_argument("--out", required=True, type=Path, help="index.parquet to write")
    parser.add_argument("--summary", type=Path, default=None,
                        help="summary JSON to write (default: index_summary.json beside --out)")


def run(args: argparse.Namespace) -> int:
    from e3d.artifacts import Provenance, write_json
    from e3d.data.index import (INDEX_SCHEMA, INDEX_VERSION, SUMMARY_SCHEMA, build_index, check_usable,
                                format_summary, summarise, write_index)
    from e3d.provenance import STAGE_MODULES

    DatasetSettings(**{key: getattr(args, key) for key in INDEX_FLAG_KEYS})  # the config's bounds
    name = args.name or args.root.name
    cfg = {"format": args.format, "root": str(args.root), "annotations": str(args.annotations or ""),
           "classes": str(args.classes or ""), "split": args.split, "min_frames": args.min_frames}
    df, class_names = build_index(args.format, args.root, args.annotations, args.split, args.classes,
                                  min_frames=args.min_frames, threads=args.threads)
    summary = summarise(df, class_names)
    summary["dataset"] = name
    print(format_summary(summary, name))
    summary_path = args.summary or args.out.with_name("index_summary.json")
    write_json(summary_path, summary, Provenance.make(SUMMARY_SCHEMA, 1, cfg, STAGE_MODULES["data"]))
    check_usable(df, summary, name)
    write_index(args.out, df, class_names, args.root,
                Provenance.make(INDEX_SCHEMA, INDEX_VERSION, cfg, STAGE_MODULES["data"]))
    return 0
