"""Search throughput and quality.

1. Throughput: candidate evaluations per second on ONE core (mutate + budget check + score + population update, the
   real search loop in one lane), against a baseline run in the same process that does what the authors' code does
   per candidate: build the candidate as a PyTorch module (e3d.models.build_model) and count it (fvcore, eval mode,
   batch-norm handle off), then score it. Prints both rates and their ratio (target: >= 20,000/s; authors ~18/s).
2. Quality: under 1.9 GFLOPs (160x13) and 83 layers with the paper's kernel set, a 500,000-iteration search per seed
   (default seeds 0-4) on `--workers` cores; prints each seed's best STEntr (target >= 202.86, the released E3D-S)
   and wall time (target < 60 s on 2 cores).

    python benchmarks/bench_search.py [--baseline-candidates 10] [--seeds 0 1 2 3 4] [--workers 2] [--skip-quality]
"""

from __future__ import annotations

import argparse
import json
import random
import time


def throughput(n: int, seed: int = 0) -> float:
    from e3d.search.engine import SearchConfig, run_lane

    cfg = SearchConfig(max_layers=83, resolution=160, frames=13, iterations=n, population=256, seed=seed,
                       budget_gflops=1.9)
    from e3d.search.engine import _evaluator, initial_genome

    space, ev = _evaluator(cfg)
    g0, _ = initial_genome(cfg, space, ev)
    s, m, p, _ = ev.evaluate(g0)
    rng = random.Random(seed)
    # warm the population and the per-block cache a little, as in a running search
    lane = run_lane(cfg, [(s, g0, m, p)], rng.getstate(), 20000)
    t = time.perf_counter()
    run_lane(cfg, lane.population, lane.rng_state, n)
    return n / (time.perf_counter() - t)


def baseline(n: int, seed: int = 0) -> float:
    import torch
    from fvcore.nn import FlopCountAnalysis

    from e3d.arch.builtins import e3d_initial
    from e3d.arch.space import SearchSpace
    from e3d.models import build_model
    from e3d.score.entropy import score_spec

    torch.set_num_threads(1)
    space = SearchSpace(template=e3d_initial(), resolution=160, max_layers=83)
    rng = random.Random(seed)
    g = space.genome_from_spec(space.template)
    x = torch.zeros(1, 3, 13, 160, 160)
    t = time.perf_counter()
    for _ in range(n):
        g = space.mutate(g, rng)
        spec = space.spec_from_genome(g)
        model = build_model(spec, 400).eval()
        fca = FlopCountAnalysis(model, x)
        fca.set_op_handle("aten::batch_norm", None)
        fca.unsupported_ops_warnings(False)
        fca.uncalled_modules_warnings(False)
        with torch.no_grad():
            macs = fca.total()
        ok = macs <= 1.9e9 and space.layers_of(g) <= 83
        if ok:
            score_spec(spec, "stentr", 160, 13)
    return n / (time.perf_counter() - t)


def quality(seeds: list[int], workers: int, iterations: int) -> list[dict]:
    from e3d.search.engine import SearchConfig, run_search

    rows = []
    for seed in seeds:
        cfg = SearchConfig(max_layers=83, resolution=160, frames=13, iterations=iterations, population=256,
                           seed=seed, budget_gflops=1.9)
        t = time.perf_counter()
        r = run_search(cfg, workers=workers, progress=False)
        rows.append({"seed": seed, "best_stentr": r.best[0], "best_gflops": r.best[2] * 1e-9,
                     "seconds": time.perf_counter() - t, "reaches_202.86": r.best[0] >= 202.86})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--candidates", type=int, default=200_000)
    ap.add_argument("--baseline-candidates", type=int, default=10)
    ap.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2, 3, 4])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--iterations", type=int, default=500_000)
    ap.add_argument("--skip-quality", action="store_true")
    args = ap.parse_args()
    fast = throughput(args.candidates)
    print(json.dumps({"search_candidates_per_s_per_core": round(fast, 1)}), flush=True)
    slow = baseline(args.baseline_candidates)
    print(json.dumps({"baseline_build_fvcore_candidates_per_s": round(slow, 3),
                      "ratio": round(fast / slow, 1), "target_per_s": 20000}), flush=True)
    if not args.skip_quality:
        quality(args.seeds, args.workers, args.iterations)


if __name__ == "__main__":
    main()
