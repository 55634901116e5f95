"""How long `snakemake -n all` takes on the default DAG (issue 6 target: under 3 s), against a named baseline run in
the same process: `snakemake --version` (interpreter start-up plus Snakemake's own imports, which no workflow can avoid).

    python benchmarks/bench_dryrun.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(args: list[str], repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=ROOT, check=True, capture_output=True)
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    baseline = timed(["--version"], a.repeats)
    dry = timed(["-n", "all"], a.repeats)
    print(json.dumps({"dry_run_all_s": round(dry, 3), "baseline_snakemake_version_s": round(baseline, 3),
                      "ratio": round(dry / baseline, 2), "target_s": 3.0}))


if __name__ == "__main__":
    main()
