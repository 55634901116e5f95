"""The clip-source flags `e3d train` and `e3d evaluate` share: a frame store (`--store`) or the raw videos of an
index (`--source video --index ... --extract ...`, the dataset's extract settings, so clips match the store's)."""

from __future__ import annotations

import json

from e3d.errors import UserError


def add_arguments(p) -> None:
    p.add_argument("--source", default="frames", choices=["frames", "video"],
                   help="frames: read clips from the frame store (--store); video: decode them from the raw videos "
                        "of the index (--index), as the store would hold them")
    p.add_argument("--store", default=None, help="frame store directory (holds manifest.json), for --source frames")
    p.add_argument("--index", default=None, help="index.parquet written by `e3d index`, for --source video")
    p.add_argument("--extract", default="{}",
                   help="for --source video: the dataset's extract settings as JSON (short_side, fps, shards, "
                        "min_frames, ...), so the clips are the frames the store would hold")
    p.add_argument("--root", default=None, help="for --source video: dataset root (default: recorded in the index)")


def open_from_args(args):
    from dataclasses import fields

    from e3d.data.extract import ExtractSettings
    from e3d.data.video import open_source

    if args.source == "frames":
        if not args.store:
            raise UserError("--source frames needs --store (the frame store directory)")
        return open_source("frames", args.store)
    if not args.index:
        raise UserError("--source video needs --index (the dataset's index.parquet)")
    try:
        raw = json.loads(args.extract)
    except json.JSONDecodeError as exc:
        raise UserError(f"--extract: not valid JSON ({exc})") from exc
    known = {f.name for f in fields(ExtractSettings)}
    if not isinstance(raw, dict) or set(raw) - known:
        raise UserError(f"--extract: expected a mapping with keys among {sorted(known)}, got {raw!r}")
    return open_source("video", args.index, ExtractSettings(**raw), root=args.root)
