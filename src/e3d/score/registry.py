"""The one registry of architecture scores, by name: what `e3d search --score NAME`, the Figure 3 study and the
benchmark select from.

Two kinds:
- analytic (stentr, homoentr): closed forms of the spec (e3d.score.entropy); microseconds, no randomness;
- forward (zen, madet, forward): build the network (e3d.models) and run Gaussian forward passes; about a second per
  candidate on a CPU for E3D-S, seeded. The search wraps them in its own evaluator (e3d.search.evaluator: cost
  from the incremental analytic evaluator, one seed for every candidate); this package does not import the search.

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


def score_or_nan(name: str, spec: ArchSpec, resolution: int | None = None, frames: int | None = None,
                 **options: Any) -> float:
    """As `score_or_invalid`, but an undefined score is NaN: for tables and correlations, which leave it out
    (a search ranks it last instead)."""
    v = score_or_invalid(name, spec, resolution, frames, **options)
    return v if math.isfinite(v) else float("nan")


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


__all__ = ["REGISTRY", "ScoreEntry", "UnknownScoreError", "check_score_options", "get", "names", "register", "score",
           "score_device", "score_or_invalid"]
