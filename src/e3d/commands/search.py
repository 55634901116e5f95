"""`e3d search`: evolutionary search of the E3D space under a FLOPs / params / layer budget."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    from e3d.search.engine import RUN_KEYS, SHARED_KEYS, SearchConfig
    from e3d.settingspec import add_flags

    # the settings' flags: type, default, choices and help from SearchConfig, as the workflow's schema
    add_flags(p, SearchConfig, RUN_KEYS + SHARED_KEYS,
              required=("max_layers", "resolution", "frames", "iterations"))
    p.add_argument("--workers", type=int, default=None, help="processes (default: the CPUs available, <= lanes)")
    p.add_argument("--out", required=True, help="output directory (arch.json, topk.json, trace.parquet)")
    p.add_argument("--state-dir", default=None,
                   help="resumable state (default: OUT/../.state/NAME); a killed search resumes from it")
    p.add_argument("--checkpoint-seconds", type=float, default=5.0)
    p.add_argument("--name", default=None, help="name of the searched spec (default: the output directory name)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")


def _score_options(text: str) -> dict:
    from e3d.errors import UserError

    try:
        options = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"--score-options is not JSON: {exc}") from exc
    if not isinstance(options, dict):
        raise UserError(f"--score-options must be a JSON object, got {text!r}")
    return options


def search_config(args: argparse.Namespace):
    """The SearchConfig these flags describe (also used by benchmarks/bench_paper_search.py on the rule's flags)."""
    from e3d.search.engine import RUN_KEYS, SHARED_KEYS, SearchConfig

    values = {key: getattr(args, key) for key in RUN_KEYS + SHARED_KEYS}
    values["score_options"] = _score_options(args.score_options)
    return SearchConfig(**values)


def run(args: argparse.Namespace) -> int:
    from e3d.search.engine import run_search
    from e3d.search.outputs import write_outputs

    cfg = search_config(args)
    out = Path(args.out)
    name = args.name or out.name
    state_dir = Path(args.state_dir) if args.state_dir else out.parent / ".state" / out.name
    workers = args.workers or len(os.sched_getaffinity(0))
    result = run_search(cfg, state_dir / "search_state.json", workers=workers,
                        checkpoint_seconds=args.checkpoint_seconds, progress=not args.quiet)
    info = write_outputs(result, out, name=name)
    print(json.dumps({**info, "out": str(out), "workers": workers, "lanes": cfg.lanes}))
    return 0
