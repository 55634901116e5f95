"""Figure 3, the correlation study: N random architectures of the E3D search space between two FLOPs bounds
(paper: 60 models, 0.2-5 GFLOPs), each scored (STEntr, HomoEntr, GFLOPs, parameters), trained with a short
schedule, and the Kendall tau / Spearman rho of every metric against top-1 with bootstrap intervals.

The study is three steps, so the training in the middle is the ordinary training stage (one job per model, on
SLURM when configured): `sample_architectures` + `score_architectures` (here) -> `e3d train --arch spec:...` and
`e3d evaluate` per model -> `correlate` (here) on the joined table.

Sampling: random walks of the search's own mutations (e3d.arch.space) from the initial structure, each walk
`1..max_walk` steps long, so models differ in widths, bottlenecks, kernels and layer counts exactly as the space
allows. To spread the models over the FLOPs range rather than cluster where walks end most often, log-FLOPs
[low, high] is cut into bins and each bin takes at most ceil(N / bins) models. Deterministic by seed.
"""

from __future__ import annotations

import math
import random
from typing import Iterable, Sequence

import pandas as pd

from e3d.arch.builtins import get_builtin
from e3d.arch.cost import cost
from e3d.arch.space import PAPER_KERNELS, SearchSpace
from e3d.arch.spec import ArchSpec
# declared with the rest of the baselines section's settings (callers may import SampleConfig, StudyError here)
from e3d.baselines.settings import CorrelationSettings, SampleConfig, StudyError

METRICS = ("stentr", "homoentr", "gflops", "params_m")
CORRELATIONS = ("kendall", "spearman")
FIG3_NAMES = "fig3-{index:03d}"  # the sampled models' names (the workflow names their training jobs before sampling)


def _space(cfg: SampleConfig) -> SearchSpace:
    return SearchSpace(template=get_builtin(cfg.template), resolution=cfg.resolution, max_layers=cfg.max_layers,
                       kernels=PAPER_KERNELS)


def sample_architectures(cfg: SampleConfig, name_format: str = FIG3_NAMES) -> list[ArchSpec]:
    """N distinct specs with GFLOPs (at cfg.resolution x cfg.frames) in [gflops_min, gflops_max], named by
    `name_format`; see module doc. With cfg.spread "stentr" the N are spread over STEntr instead of log-FLOPs."""
    if cfg.spread == "stentr":
        return _spread_by_stentr(cfg, name_format)
    return _sample(cfg, name_format)


def _spread_by_stentr(cfg: SampleConfig, name_format: str) -> list[ArchSpec]:
    """A pool of pool x N plain random walks in the FLOPs band, scored with STEntr (those where it is undefined are
    dropped), then the N whose scores are nearest to N evenly spaced values from the pool's lowest to its highest."""
    from dataclasses import replace

    from e3d.score import registry

    pool = _sample(replace(cfg, n=cfg.n * cfg.pool, bins=1), "pool-{index}")
    scored = [(registry.score_or_invalid("stentr", s, cfg.resolution, cfg.frames), s) for s in pool]
    scored = sorted(((v, s) for v, s in scored if math.isfinite(v)), key=lambda vs: vs[0])
    if len(scored) < cfg.n:
        raise StudyError(f"fig3 sampling: only {len(scored)} of {len(pool)} pooled architectures have a defined "
                         f"STEntr at {cfg.frames}x{cfg.resolution}^2; need {cfg.n} (raise pool or change the input)")
    lo, hi = scored[0][0], scored[-1][0]
    taken: list[int] = []
    for k in range(cfg.n):
        target = lo + (hi - lo) * k / max(1, cfg.n - 1)
        free = [i for i in range(len(scored)) if i not in taken]
        taken.append(min(free, key=lambda i: (abs(scored[i][0] - target), i)))
    return [replace(scored[i][1], name=name_format.format(index=k)) for k, i in enumerate(sorted(taken))]


def _sample(cfg: SampleConfig, name_format: str) -> list[ArchSpec]:
    from e3d.search.fast import Evaluator

    space = _space(cfg)
    ev = Evaluator(space, cfg.frames, "homoentr")
    rng = random.Random(f"e3d-fig3:{cfg.seed}")
    lo, hi = math.log(cfg.gflops_min * 1e9), math.log(cfg.gflops_max * 1e9)
    quota = math.ceil(cfg.n / cfg.bins)
    counts = [0] * cfg.bins
    start = space.genome_from_spec(space.template)
    chosen: dict[tuple, None] = {}
    tries = 0
    while len(chosen) < cfg.n:
        tries += 1
        if tries > cfg.max_tries:
            raise StudyError(f"fig3 sampling: found only {len(chosen)} of {cfg.n} distinct architectures in "
                             f"[{cfg.gflops_min}, {cfg.gflops_max}] GFLOPs after {cfg.max_tries} walks; widen the "
                             "bounds, lower n or raise max_tries")
        g = start
        for _ in range(rng.randint(1, cfg.max_walk)):
            g = space.mutate(g, rng)
        if g in chosen:
            continue
        _, macs, _, layers = ev.evaluate(g)
        if layers > cfg.max_layers or not cfg.gflops_min * 1e9 <= macs <= cfg.gflops_max * 1e9:
            continue
        b = min(cfg.bins - 1, int((math.log(macs) - lo) / (hi - lo) * cfg.bins))
        if counts[b] >= quota:
            continue
        counts[b] += 1
        chosen[g] = None
    # at the sampled input size: the FLOPs bounds held there, and the scores and training read it from the spec
    return [space.spec_from_genome(g, name=name_format.format(index=i)).with_input(cfg.resolution, cfg.frames)
            for i, g in enumerate(chosen)]


def model_name(index: int) -> str:
    """The name of the index-th sampled model (the workflow names its training jobs so before sampling)."""
    return FIG3_NAMES.format(index=index)


def score_architectures(specs: Iterable[ArchSpec], resolution: int | None = None, frames: int | None = None,
                        scores: Sequence[str] = CorrelationSettings.scores, score_options: dict | None = None,
                        ) -> pd.DataFrame:
    """One row per spec: model, each score, gflops, params_m, layers, and the spec as JSON."""
    from e3d.score import registry

    rows = []
    for spec in specs:
        r = spec.resolution if resolution is None else resolution
        t = spec.frames if frames is None else frames
        c = cost(spec, r, t)
        row = {"model": spec.name}
        for name in scores:
            # NaN where undefined here: left out of that metric's correlation
            row[name] = registry.score_or_nan(name, spec, r, t, **(score_options or {}).get(name, {}))
        row.update(gflops=c.gflops, params_m=c.params / 1e6, layers=c.layers, resolution=r, frames=t,
                   spec_json=spec.to_json(indent=None))
        rows.append(row)
    if not rows:
        raise StudyError("fig3: no architectures to score")
    return pd.DataFrame(rows)


def join_accuracy(scored: pd.DataFrame, accuracy: pd.DataFrame, target: str = "top1") -> pd.DataFrame:
    """Attach each model's accuracy (columns model, target); every scored model must have one."""
    for col in ("model", target):
        if col not in accuracy.columns:
            raise StudyError(f"fig3: accuracy table lacks column {col!r}; it has {list(accuracy.columns)}")
    dup = accuracy["model"][accuracy["model"].duplicated()].tolist()
    if dup:
        raise StudyError(f"fig3: accuracy given twice for model(s) {sorted(set(dup))}")
    missing = sorted(set(scored["model"]) - set(accuracy["model"]))
    if missing:
        raise StudyError(f"fig3: no accuracy for model(s) {missing}")
    return scored.merge(accuracy[["model", target]], on="model", how="left")


def correlate(data: pd.DataFrame, target: str = "top1", metrics: Sequence[str] = METRICS,
              methods: Sequence[str] = CORRELATIONS, n_boot: int = CorrelationSettings.n_boot,
              confidence: float = CorrelationSettings.confidence,
              seed: int = 0) -> pd.DataFrame:
    """Kendall tau and Spearman rho (by default) of every metric against `target`, with percentile bootstrap
    intervals (e3d.tables.stats.correlations_with_ci); one row per (method, metric)."""
    from e3d.tables.stats import correlations_with_ci

    present = [m for m in metrics if m in data.columns]
    if not present:
        raise StudyError(f"fig3: none of the metrics {list(metrics)} are in the data ({list(data.columns)})")
    return pd.concat([correlations_with_ci(data, target, present, method=m, n_boot=n_boot, confidence=confidence,
                                           seed=seed) for m in methods], ignore_index=True)
