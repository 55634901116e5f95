"""`e3d search`: evolutionary search of the E3D space under a FLOPs / params / layer budget."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from e3d.score.registry import names as score_names


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--budget-gflops", type=float, default=None, help="conv+linear GMACs of one clip (paper 'GFLOPs')")
    p.add_argument("--budget-params", type=float, default=None, help="parameter budget (count)")
    p.add_argument("--max-layers", type=int, required=True, help="layer budget (3 per bottleneck layer + 2)")
    p.add_argument("--resolution", type=int, required=True)
    p.add_argument("--frames", type=int, required=True)
    p.add_argument("--iterations", type=int, required=True, help="candidates generated (rejected ones count)")
    p.add_argument("--population", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--score", choices=score_names(), default="stentr",
                   help="analytic (stentr, homoentr) or forward-inference (zen, madet, forward) score")
    p.add_argument("--score-options", default="{}", metavar="JSON",
                   help='options of a forward score, e.g. \'{"batch_size": 1, "repeats": 1, "device": "auto"}\'')
    p.add_argument("--kernels", default="1x3x3,1x5x5,3x3x3", help="kernel set, comma separated KtxKxK")
    p.add_argument("--template", default="e3d-initial", help="built-in initial structure: e3d-initial (the authors' configs) or e3d-initial-table8 (Table 8 as printed)")
    p.add_argument("--alpha-resolution", type=int, default=None,
                   help="resolution for alpha only (160 = the authors' M/L quirk); default --resolution")
    p.add_argument("--lanes", type=int, default=16,
                   help="parallel lanes per epoch; the result depends on lanes, never on --workers")
    p.add_argument("--sync-every", type=int, default=None,
                   help="steps per lane between population merges (default: the population size, the authors' rule)")
    p.add_argument("--topk", type=int, default=10)
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
    from e3d.search.engine import SearchConfig

    return SearchConfig(
        max_layers=args.max_layers, resolution=args.resolution, frames=args.frames, iterations=args.iterations,
        population=args.population, seed=args.seed, budget_gflops=args.budget_gflops,
        budget_params=None if args.budget_params is None else int(args.budget_params), score=args.score,
        kernels=args.kernels, template=args.template, lanes=args.lanes, sync_every=args.sync_every,
        alpha_resolution=args.alpha_resolution, topk=args.topk, score_options=_score_options(args.score_options),
    )


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
