"""Figure 4: the forward-inference entropy estimate against the analytic HomoEntr-Score on the paper's three-layer
network (1x1x1 -> 3x3x3 -> 1x1x1, stride 1, widths C on a 5x5x5 input, C in {16, 32, 64, 128}), each evaluated
`repeats` (paper: 1,000) times; the forward estimate re-initialises the convs from a Gaussian every time.

Outputs: (a) the spread of the values per C and method, (b) the seconds per 1,000 evaluations per C and method.
Timing runs with a fixed number of torch threads (default 1): on a shared machine, tiny convolutions on several
threads are dominated by thread contention, which would measure the machine rather than the method.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import pandas as pd
import torch

from e3d.baselines.settings import PAPER_CHANNELS, PAPER_REPEATS, Fig4Settings
from e3d.errors import E3DError
from e3d.progress import Progress
from e3d.score.forward_common import check_positive, generator, resolve_device
from e3d.score.forward_entropy import analytic_three_layer, forward_three_layer, three_layer_net

FORWARD, ANALYTIC = "forward", "analytic"
FIG4_NAME = "fig4_forward_vs_analytic.png"


@dataclass
class Fig4Result:
    spread: pd.DataFrame  # channels, method, repeat, value
    timing: pd.DataFrame  # channels, method, seconds (per 1,000 evaluations), evaluations, measured_seconds
    summary: pd.DataFrame  # channels, method, mean, std, min, max


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def run_fig4(channels: Sequence[int] = PAPER_CHANNELS, repeats: int = PAPER_REPEATS, seed: int = 0,
             batch_size: int = Fig4Settings.batch_size, device=None, threads: int | None = Fig4Settings.threads,
             progress: bool = True) -> Fig4Result:
    channels = [check_positive("channels", c) for c in channels]
    if not channels:
        raise E3DError("fig4: give at least one channel width")
    check_positive("repeats", repeats)
    check_positive("batch_size", batch_size)
    dev = resolve_device(device)
    spread, timing = [], []
    bar = Progress(total=len(channels) * repeats, desc="fig4 forward", unit="eval") if progress else None
    try:
        with torch_threads(threads):
            for ci, c in enumerate(channels):
                net = three_layer_net(c).to(dev)
                gen = generator(seed * 1000003 + c)
                t0 = time.perf_counter()
                values = []
                for _ in range(repeats):
                    values.append(forward_three_layer(net, gen, dev, batch_size))
                    if bar:
                        bar.update(1, note=f"C={c}")
                if dev.type == "cuda":
                    torch.cuda.synchronize(dev)
                fwd_s = time.perf_counter() - t0
                t0 = time.perf_counter()
                analytic = [analytic_three_layer(c) for _ in range(repeats)]
                ana_s = time.perf_counter() - t0
                for method, vals, secs in ((FORWARD, values, fwd_s), (ANALYTIC, analytic, ana_s)):
                    spread.extend({"channels": c, "method": method, "repeat": i, "value": v}
                                  for i, v in enumerate(vals))
                    timing.append({"channels": c, "method": method, "seconds": secs * 1000.0 / repeats,
                                   "evaluations": repeats, "measured_seconds": secs})
    finally:
        if bar:
            bar.close()
    spread_df = pd.DataFrame(spread)
    summary = (spread_df.groupby(["channels", "method"], sort=True)["value"]
               .agg(mean="mean", std=lambda v: statistics.pstdev(v), min="min", max="max").reset_index())
    return Fig4Result(spread_df, pd.DataFrame(timing), summary)


def write_fig4(result: Fig4Result, out_dir: str | Path, config: dict) -> dict[str, Path]:
    """The PNG with the CSV behind it (figures.spread_and_time) plus a summary CSV, all atomic; meta with provenance."""
    from e3d.artifacts import write_bytes_atomic
    from e3d.tables import figures

    out_dir = Path(out_dir)
    prov = figures.figure_provenance(config, ("tables", "baselines", "score"))
    paths = figures.spread_and_time(
        result.spread, result.timing, out_dir / FIG4_NAME, group="channels", method="method", value="value",
        seconds="seconds", value_label="entropy score (HomoEntr)", seconds_label="seconds per 1,000 evaluations",
        provenance=prov,
        caption="Forward-inference entropy (re-initialised each time) vs analytic HomoEntr on the three-layer "
                "network; (b) seconds per 1,000 evaluations",
        extra={"config": config, "summary": result.summary.to_dict(orient="records")},
    )
    summary_path = out_dir / "fig4_summary.csv"
    table = result.summary.merge(result.timing, on=["channels", "method"])
    write_bytes_atomic(summary_path, table.to_csv(index=False, lineterminator="\n").encode())
    paths["summary"] = summary_path
    return paths
