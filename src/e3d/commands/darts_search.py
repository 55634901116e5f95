"""`e3d darts-search`: differentiable pseudo-3D cell search with temporal segments on a frame store.

Settings come from a preset (ucf101 or synthetic), then an optional YAML/JSON file holding the `darts` config
slice for one dataset (or the same inline as --settings JSON, as the workflow passes it), then the flags given on
the command line (highest priority).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml

from e3d.errors import UserError

FLAG_KEYS = ("segments", "frames_per_segment", "size", "epochs", "order", "seed", "batch_size", "channels", "layers",
             "steps", "multiplier", "stem_stride", "train_split", "train_portion", "max_videos", "num_workers",
             "sample_rate", "w_lr", "a_lr", "arch_warmup_epochs", "bn_batches")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from e3d.darts.config import PRESETS, SearchConfig
    from e3d.settingspec import add_flags

    parser.add_argument("--store", required=True, type=Path, help="frame store folder (e3d extract output)")
    parser.add_argument("--out", required=True, type=Path, help="output folder: genotype.json, metrics.parquet")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="ucf101", help="defaults to start from")
    parser.add_argument("--config", type=Path, help="YAML/JSON mapping of search settings (the darts config slice)")
    parser.add_argument("--settings", help="JSON mapping of search settings (the darts config block), after --config")
    parser.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda, cuda:N")
    parser.add_argument("--primitives", help="comma-separated operation names (default: the reference's list)")
    # type, choices and help from SearchConfig; no defaults, so a flag left out keeps the preset's or file's value
    add_flags(parser, SearchConfig, FLAG_KEYS, defaults=False)


def resolve_config(args: argparse.Namespace):
    from e3d.darts.config import SearchConfig, preset

    config = preset(args.preset)
    if args.config is not None:
        try:
            data = yaml.safe_load(args.config.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise UserError(f"{args.config}: cannot read search config ({exc})") from None
        if not isinstance(data, dict):
            raise UserError(f"{args.config}: expected a mapping of search settings")
        try:
            config = SearchConfig.from_dict(data, base=config)
        except (TypeError, ValueError) as exc:
            raise UserError(f"{args.config}: {exc}") from None
    if getattr(args, "settings", None):
        try:
            data = json.loads(args.settings)
        except json.JSONDecodeError as exc:
            raise UserError(f"--settings: not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise UserError("--settings: expected a JSON mapping of search settings")
        try:
            config = SearchConfig.from_dict(data, base=config)
        except (TypeError, ValueError) as exc:
            raise UserError(f"--settings: {exc}") from None
    flags = {k: getattr(args, k) for k in FLAG_KEYS if getattr(args, k) is not None}
    if args.primitives:
        flags["primitives"] = tuple(p.strip() for p in args.primitives.split(",") if p.strip())
    return SearchConfig.from_dict(flags, base=config)


def run(args: argparse.Namespace) -> int:
    from e3d.darts.run import search_store

    config = resolve_config(args)
    if not args.store.is_dir():
        raise UserError(f"{args.store}: frame store folder does not exist")
    result = search_store(args.store, args.out, config, device=args.device)
    last = result.history.iloc[-1]
    print(f"darts-search: {len(result.history)} epochs in {result.seconds:.1f}s on {result.device}; "
          f"val loss {last.val_loss:.4f} acc {last.val_acc:.3f}; wrote {args.out / 'genotype.json'}")
    return 0
