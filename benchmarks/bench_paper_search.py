"""The paper-config searches, run exactly as config/paper.yaml configures them, against the released structures.

Every entry of `search.runs` named on the command line (default s, m, l) is run with the settings the workflow gives
it (the overlay config/config.yaml + config/paper.yaml, the same command-line flags as the search rule), for several
seeds; each seed's best STEntr, GFLOPs, layers and wall time is printed beside the released structure's STEntr at the
same input (E3D-S/M/L, paper Table 9), with `reaches: true` when the search found at least that.

    python benchmarks/bench_paper_search.py [--runs s m l] [--seeds-s 0 1 2 3 4] [--seeds 0 1 2] [--workers 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import time

RELEASED = {"s": "e3d-s", "m": "e3d-m", "l": "e3d-l"}


def main() -> None:
    from e3d.arch.builtins import get_builtin
    from e3d.config import load_config
    from e3d.score.entropy import score_spec
    from e3d.commands.search import add_arguments, search_config
    from e3d.search.engine import run_search
    from e3d.search.workflow import search_cli_args

    ap = argparse.ArgumentParser()
    ap.add_argument("--configs", nargs="+", default=["config/config.yaml", "config/paper.yaml"])
    ap.add_argument("--runs", nargs="+", default=["s", "m", "l"])
    ap.add_argument("--seeds-s", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds of the other runs")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    config = load_config(*args.configs)
    for run in args.runs:
        # the search rule's own flags, parsed by the `e3d search` parser
        flags = shlex.split(search_cli_args(config["search"], run)) + ["--out", "unused"]
        parser = argparse.ArgumentParser()
        add_arguments(parser)
        base = search_config(parser.parse_args(flags))
        released = RELEASED.get(run)
        target = (score_spec(get_builtin(released), base.score, base.resolution, base.frames).score
                  if released else None)
        for seed in args.seeds_s if run == "s" else args.seeds:
            cfg = dataclasses.replace(base, seed=seed)
            t = time.perf_counter()
            r = run_search(cfg, workers=args.workers, progress=False)
            best = r.best
            print(json.dumps({
                "run": run, "seed": seed, "best_stentr": round(best[0], 4), "best_gflops": round(best[2] * 1e-9, 4),
                "layers": r.space.layers_of(best[1]), "seconds": round(time.perf_counter() - t, 1),
                "released": released, "released_stentr": None if target is None else round(target, 4),
                "reaches": None if target is None else best[0] >= target,
                "iterations": cfg.iterations, "population": cfg.population, "lanes": cfg.lanes,
                "sync_every": cfg.sync_every, "budget_gflops": cfg.budget_gflops,
            }), flush=True)


if __name__ == "__main__":
    main()
