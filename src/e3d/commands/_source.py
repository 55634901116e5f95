"""The clip-source flags `e3d train` and `e3d evaluate` share: a frame store (`--store`), the raw videos of an
index (`--source video --index ... --extract ...`, the dataset's extract settings, so clips match the store's) or a
decoded-clip cache (`--source cache --cache DIR`, written by `e3d cache` from either of the other two)."""

from __future__ import annotations

import json

from e3d.errors import UserError


def add_arguments(p, sources: tuple[str, ...] = ("frames", "video", "cache")) -> None:
    help_of = {"frames": "frames: read clips from the frame store (--store)",
               "video": "video: decode them from the raw videos of the index (--index), as the store would hold them",
               "cache": "cache: read them from the decoded-clip cache (--cache) that `e3d cache` wrote"}
    p.add_argument("--source", default="frames", choices=list(sources), help="; ".join(help_of[s] for s in sources))
    p.add_argument("--store", default=None, help="frame store directory (holds manifest.json), for --source frames")
    p.add_argument("--index", default=None, help="index.parquet written by `e3d index`, for --source video")
    p.add_argument("--extract", default="{}",
                   help="for --source video: the dataset's extract settings as JSON (short_side, fps, shards, "
                        "min_frames, ...), so the clips are the frames the store would hold")
    p.add_argument("--root", default=None, help="for --source video: dataset root (default: recorded in the index)")
    if "cache" in sources:
        p.add_argument("--cache", default=None, help="decoded-clip cache directory (holds manifest.json and "
                                                     "frames.u8), for --source cache")


def describe(args) -> str:
    """The file or directory the clips come from, for messages."""
    return str({"frames": args.store, "video": args.index, "cache": getattr(args, "cache", None)}[args.source])


def open_from_args(args, short_side: int | None = None, why: str = ""):
    """The clip source the flags name. `short_side`: the largest short side the reader resizes clips to (`why` says
    who); a cache holding smaller frames is refused (e3d.data.cache.ClipCache.require)."""
    from dataclasses import fields

    from e3d.data.extract import ExtractSettings
    from e3d.data.video import open_source

    if args.source == "cache":
        if not getattr(args, "cache", None):
            raise UserError("--source cache needs --cache (the clip cache directory written by `e3d cache`)")
        from e3d.data.cache import ClipCache

        cache = ClipCache(args.cache)
        if short_side is not None:
            cache.require(short_side, why)
        return cache
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
