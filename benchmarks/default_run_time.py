"""Per-rule time of two `snakemake all` runs from their Snakemake benchmark files, side by side, and the ratio of
their wall times (issue 14's time budget: the default run within 25 minutes on 2 idle cores).

    python benchmarks/default_run_time.py --run old=/path/to/old/checkout:1234 --run new=.:1400

Each --run is NAME=CHECKOUT:WALL_SECONDS (the whole `snakemake all` wall time, measured outside; the benchmark
files cover only the jobs that have a `benchmark:` directive, so their sum is not the run's wall time). Jobs run
two at a time on two cores, so a rule's summed job seconds can exceed its share of the wall time.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import pandas as pd


def rule_of(path: Path, logs: Path) -> str:
    """The rule a benchmark file belongs to, from its place under logs/ (train/..., eval/..., search/...)."""
    parts = path.relative_to(logs).parts
    stage = parts[0]
    if stage == "eval":
        return f"evaluate ({path.name.split('.')[0]})"
    if stage == "data":
        return f"data: {path.name.split('.')[0]}"
    if stage == "search":
        return "search (forward scores)" if any(s in path.name for s in ("_zen", "_madet")) else "search (analytic)"
    return stage


def per_rule(checkout: Path) -> pd.DataFrame:
    logs = checkout / "logs"
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
    for f in logs.rglob("*.benchmark.tsv"):
        row = pd.read_csv(f, sep="\t").iloc[-1]
        s = sums[rule_of(f, logs)]
        s[0] += float(row["s"])
        s[1] += float(row["cpu_time"])
        s[2] += 1
    return pd.DataFrame([{"rule": r, "jobs": n, "job_seconds": w, "cpu_seconds": c} for r, (w, c, n) in sums.items()])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", action="append", required=True, metavar="NAME=CHECKOUT:WALL_SECONDS")
    args = p.parse_args()
    frames, walls = [], {}
    for spec in args.run:
        name, _, rest = spec.partition("=")
        checkout, _, wall = rest.rpartition(":")
        walls[name] = float(wall)
        frames.append(per_rule(Path(checkout)).assign(run=name))
    table = pd.concat(frames).pivot_table(index="rule", columns="run", values=["jobs", "job_seconds", "cpu_seconds"],
                                          aggfunc="sum", fill_value=0)
    print(table.round(1).to_string())
    names = list(walls)
    for n in names:
        print(f"{n}: snakemake all wall {walls[n]:.0f} s ({walls[n] / 60:.1f} min)")
    if len(names) == 2:
        a, b = names
        print(f"ratio {b} / {a}: {walls[b] / walls[a]:.2f}")


if __name__ == "__main__":
    main()
