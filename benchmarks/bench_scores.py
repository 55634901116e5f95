"""Evaluations per second of every registered score for E3D-S on the CPU, as ratios against STEntr (same process).

    python benchmarks/bench_scores.py [--resolution 160] [--frames 13] [--seconds 3] [--threads 1]

Forward scores are timed twice: with their registry defaults (batch, repeats), and as the Table 7 searches of the
default config run them (batch 1, one draw: `baselines.table7.score_options`). Without the builder (e3d.models)
they are reported as skipped.
"""

from __future__ import annotations

import argparse
import time

import torch

from e3d.arch.builtins import get_builtin
from e3d.errors import E3DError
from e3d.score import registry


SEARCH_OPTIONS = {"batch_size": 1, "repeats": 1}  # as config/config.yaml's Table 7 searches run them


def rate(fn, seconds: float, min_calls: int = 1) -> float:
    n, t0 = 0, time.perf_counter()
    while n < min_calls or time.perf_counter() - t0 < seconds:
        fn()
        n += 1
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--resolution", type=int, default=160)
    ap.add_argument("--frames", type=int, default=13)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    spec = get_builtin("e3d-s")
    rates = {}
    for name in registry.names():
        entry = registry.get(name)
        variants = [(name, {})] if entry.kind == "analytic" else [
            (name, {"device": "cpu", "seed": 0}), (f"{name}@b1r1", {"device": "cpu", "seed": 0, **SEARCH_OPTIONS})]
        for label, opts in variants:
            try:
                rates[label] = rate(lambda: registry.score(name, spec, args.resolution, args.frames, **opts),
                                    args.seconds)
            except E3DError as exc:
                print(f"{label:>12}: skipped ({exc})")
    base = rates["stentr"]
    print(f"E3D-S at {args.resolution}px x {args.frames} frames, CPU, {args.threads} thread(s)")
    for name, r in rates.items():
        print(f"{name:>12}: {r:12.3f} eval/s   ratio vs stentr {r / base:.3g}  ({base / r:.3g}x slower)")


if __name__ == "__main__":
    main()
