"""`e3d cache`: decode a dataset's clips once into a memory-mapped clip cache (e3d.data.cache) that `e3d train` and
`e3d evaluate` read with `--source cache --cache DIR`.

    e3d cache --store work/data/synthetic/frames --short-side 40 --out work/data/synthetic/cache
    e3d cache --source video --index work/data/k400/index.parquet --extract '{"short_side": 256}' --short-side 200 ...
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from e3d.commands import _source
    from e3d.data.settings import MIN_CACHE_SHORT_SIDE

    _source.add_arguments(parser, sources=("frames", "video"))
    parser.add_argument("--short-side", type=int, required=True,
                        help=f"resize every frame's short side to this (>= {MIN_CACHE_SHORT_SIDE}; at most the "
                             f"source's frames: a frame no larger is kept as it is)")
    parser.add_argument("--out", required=True, type=Path, help="cache directory to write (manifest.json, frames.u8)")
    parser.add_argument("--threads", type=int, default=1, help="decoding processes")


def run(args: argparse.Namespace) -> int:
    from e3d.commands import _source
    from e3d.data.cache import write_cache
    from e3d.provenance import STAGE_MODULES

    source = _source.open_from_args(args)
    where = _source.describe(args)
    manifest = write_cache(source, args.out, args.short_side, threads=max(1, args.threads),
                           provenance_config={"short_side": args.short_side, "source": args.source},
                           code_modules=STAGE_MODULES["cache"], where=where)
    print(f"cache: {manifest['num_videos']} videos, {manifest['num_frames']} frames at short side "
          f"{args.short_side} ({manifest['bytes'] / 1e6:.1f} MB, {manifest['resized_videos']} resized), "
          f"{len(manifest['failed'])} failed to read -> {args.out}")
    return 0
