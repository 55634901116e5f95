"""The search's evaluator of a genome for its configured score: (score, MACs, params, layers).

Analytic scores (stentr, homoentr) use the incremental evaluator of e3d.search.fast; a forward score (zen, madet,
forward: e3d.score.registry) is wrapped by `ForwardEvaluator`, which takes FLOPs, params and layers from that
incremental evaluator, skips the forward pass for candidates over a budget (the search rejects those anyway), and
uses the *same* seed for every candidate (common random numbers: two candidates differ by architecture, not by
draw, and a genome's score does not depend on evaluation order).
"""

from __future__ import annotations

import math
import multiprocessing

from e3d.score.registry import UnknownScoreError, check_score_options, get, score_or_invalid
from e3d.search.fast import Evaluator


class ForwardEvaluator:
    """The search's evaluator for a forward score: (score, macs, params, layers) of a genome, like
    e3d.search.fast.Evaluator, whose cost it reuses."""

    def __init__(self, space, frames: int, name: str, cost_evaluator, *, budget_macs: float = math.inf,
                 budget_params: float = math.inf, max_layers: float = math.inf, options: dict | None = None):
        entry = get(name)
        if entry.kind != "forward":
            raise UnknownScoreError(f"{name} is an analytic score; use the search's incremental evaluator")
        self.space = space
        self.frames = frames
        self.name = name
        self.cost = cost_evaluator
        self.budget_macs = budget_macs
        self.budget_params = budget_params
        self.max_layers = max_layers
        self.options = dict(options or {})
        self.scored = 0  # forward evaluations actually run (for traces and benchmarks)
        self._cache: dict[tuple, float] = {}

    def evaluate(self, g) -> tuple[float, int, int, int]:
        _, macs, params, layers = self.cost.evaluate(g)
        if macs > self.budget_macs or params > self.budget_params or layers > self.max_layers:
            return -math.inf, macs, params, layers
        s = self._cache.get(g)
        if s is None:
            spec = self.space.spec_from_genome(g)
            s = score_or_invalid(self.name, spec, self.space.resolution, self.frames, **self.options)
            self.scored += 1
            if len(self._cache) > 100_000:
                self._cache.clear()
            self._cache[g] = s
        return s, macs, params, layers


def make_search_evaluator(cfg, space):
    """The evaluator the search engine uses for `cfg.score`: the incremental analytic one for stentr/homoentr, a
    ForwardEvaluator (seeded with the search seed) for a forward score."""
    entry = get(cfg.score)
    if entry.kind == "analytic":
        return Evaluator(space, cfg.frames, cfg.score, cfg.alpha_resolution, cfg.num_classes, cfg.on_parallel)
    cost = Evaluator(space, cfg.frames, "homoentr", None, cfg.num_classes, "clamp")
    options = {**entry.options, **check_score_options(cfg.score, getattr(cfg, "score_options", None)),
               "seed": cfg.seed}
    if multiprocessing.parent_process() is not None:
        # a search worker: the pool already runs one process per core, so torch's own threads would oversubscribe
        import torch

        torch.set_num_threads(1)
    return ForwardEvaluator(space, cfg.frames, cfg.score, cost, budget_macs=cfg.budget_macs,
                            budget_params=math.inf if cfg.budget_params is None else cfg.budget_params,
                            max_layers=cfg.max_layers, options=options)
