"""The one registry of architecture scores, by name: what `e3d search --score NAME`, the Figure 3 study and the
benchmark select from.

Two kinds:
- analytic (stentr, homoentr): closed forms of the spec (e3d.score.entropy); microseconds, no randomness;
- forward (zen, madet, forward): build the network (e3d.models) and run Gaussian forward passes; about a second per
  candidate on a CPU for E3D-S, seeded. For the search they are wrapped by `ForwardEvaluator`, which takes FLOPs,
  params and layers from the search's incremental analytic evaluator, skips the forward pass for candidates over a
  budget (the search rejects those anyway), and uses the *same* seed for every candidate (common random numbers:
  two candidates differ by architecture, not by draw, and a genome's score does not depend on evaluation order).

Every score function has the signature fn(spec, resolution, frames, **options) -> float and raises E3DError (or
returns -inf via `score_or_invalid`) when the score is undefined.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

from e3d.arch.spec import ArchSpec
from e3d.errors import E3DError

ScoreFn = Callable[..., float]


class UnknownScoreError(E3DError, ValueError):
    """A score name that is not registered."""


@dataclass(frozen=True)
class ScoreEntry:
    name: str
    kind: str  # "analytic" | "forward"
    fn: ScoreFn
    label: str
    options: dict[str, Any] = field(default_factory=dict)  # defaults, overridable per call


def _analytic(kind: str) -> ScoreFn:
    def fn(spec: ArchSpec, resolution: int | None = None, frames: int | None = None, *,
           alpha_resolution: int | None = None, on_parallel: str = "invalid") -> float:
        from e3d.score.entropy import score_spec

        res = score_spec(spec, kind, resolution, frames, alpha_resolution=alpha_resolution, on_parallel=on_parallel)
        if not res.valid:
            raise E3DError(f"{spec.name}: {kind} is undefined: {res.reason}")
        return float(res.score)

    fn.__name__ = f"{kind}_score"
    return fn


def _zen(spec, resolution=None, frames=None, **options):
    from e3d.score.zen import zen_score

    return zen_score(spec, resolution, frames, **options)


def _madet(spec, resolution=None, frames=None, **options):
    from e3d.score.madet import madet_score

    return madet_score(spec, resolution, frames, **options)


def _forward(spec, resolution=None, frames=None, **options):
    from e3d.score.forward_entropy import forward_entropy_score

    return forward_entropy_score(spec, resolution, frames, **options)


REGISTRY: dict[str, ScoreEntry] = {}


def register(entry: ScoreEntry) -> None:
    if entry.kind not in ("analytic", "forward"):
        raise ValueError(f"score {entry.name}: kind must be analytic or forward, got {entry.kind!r}")
    REGISTRY[entry.name] = entry


register(ScoreEntry("stentr", "analytic", _analytic("stentr"), "STEntr-Score"))
register(ScoreEntry("homoentr", "analytic", _analytic("homoentr"), "HomoEntr-Score"))
register(ScoreEntry("zen", "forward", _zen, "Zen-score", {"gamma": 1e-2, "batch_size": 4, "repeats": 2}))
register(ScoreEntry("madet", "forward", _madet, "MAE-DET score",
                    {"stage_weights": (0.0, 0.0, 1.0, 1.0, 6.0), "batch_size": 4, "repeats": 2}))
register(ScoreEntry("forward", "forward", _forward, "Forward entropy", {"batch_size": 4, "repeats": 2}))


def names() -> tuple[str, ...]:
    return tuple(REGISTRY)


def get(name: str) -> ScoreEntry:
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownScoreError(f"unknown score {name!r}; expected one of {', '.join(REGISTRY)}") from None


def score(name: str, spec: ArchSpec, resolution: int | None = None, frames: int | None = None,
          **options: Any) -> float:
    """Score `spec` with the named score; forward scores take seed/device/batch_size/repeats/... as options."""
    entry = get(name)
    opts = {**entry.options, **options}
    if entry.kind == "analytic":
        opts = {k: v for k, v in opts.items() if k in ("alpha_resolution", "on_parallel")}
    return entry.fn(spec, resolution, frames, **opts)


def score_or_invalid(name: str, spec: ArchSpec, resolution: int | None = None, frames: int | None = None,
                     **options: Any) -> float:
    """As `score`, but an undefined score (E3DError from the scorer, or a non-finite value) is -inf."""
    try:
        v = score(name, spec, resolution, frames, **options)
    except UnknownScoreError:
        raise
    except E3DError:
        return -math.inf
    return v if math.isfinite(v) else -math.inf


# Options a search may set for a forward score beside the registry's defaults; the seed is the search's own.
SEARCH_OPTIONS = ("device",)


def check_score_options(name: str, options: Any) -> dict[str, Any]:
    """The options a search passes to score `name`, checked so that a typo fails before the first candidate:
    analytic scores take none, forward scores their registry options (batch_size, repeats, ...) and device."""
    entry = get(name)
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise UnknownScoreError(f"score options of {name} must be a mapping, got {options!r}")
    if options and entry.kind == "analytic":
        raise UnknownScoreError(f"{name} is an analytic score and takes no options, got {sorted(options)}")
    allowed = set(entry.options) | set(SEARCH_OPTIONS)
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise UnknownScoreError(f"unknown option(s) {unknown} for score {name}; it takes {sorted(allowed)}")
    return dict(options)


def score_device(name: str, options: dict | None = None) -> str:
    """Where score `name` runs with these options: "cpu" (every analytic score), or the device a forward score
    resolves to, with the GPU's name ("cuda:0 (NVIDIA H100 80GB HBM3)")."""
    if get(name).kind == "analytic":
        return "cpu"
    from e3d.score.forward_common import resolve_device

    dev = resolve_device((options or {}).get("device"))
    if dev.type != "cuda":
        return "cpu"
    import torch

    index = dev.index if dev.index is not None else torch.cuda.current_device()
    return f"cuda:{index} ({torch.cuda.get_device_name(index)})"


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
    from e3d.search.fast import Evaluator

    entry = get(cfg.score)
    if entry.kind == "analytic":
        return Evaluator(space, cfg.frames, cfg.score, cfg.alpha_resolution, cfg.num_classes, cfg.on_parallel)
    cost = Evaluator(space, cfg.frames, "homoentr", None, cfg.num_classes, "clamp")
    options = {**entry.options, **check_score_options(cfg.score, getattr(cfg, "score_options", None)),
               "seed": cfg.seed}
    import multiprocessing

    if multiprocessing.parent_process() is not None:
        # a search worker: the pool already runs one process per core, so torch's own threads would oversubscribe
        import torch

        torch.set_num_threads(1)
    return ForwardEvaluator(space, cfg.frames, cfg.score, cost, budget_macs=cfg.budget_macs,
                            budget_params=math.inf if cfg.budget_params is None else cfg.budget_params,
                            max_layers=cfg.max_layers, options=options)


__all__ = ["REGISTRY", "ScoreEntry", "ForwardEvaluator", "UnknownScoreError", "check_score_options", "get",
           "make_search_evaluator", "names", "register", "score", "score_device", "score_or_invalid"]
