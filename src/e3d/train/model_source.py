"""Architecture references: where the network to train comes from, and how it becomes an nn.Module.

An architecture reference is `KIND:VALUE` on the command line (`builtin:x3d-s`, `spec:net.json`,
`search:work/search/e3d/stentr/S/arch.json`) or a bare name/path whose kind is guessed. Resolving one gives
a *model record*: a small JSON-able dict that is stored in every checkpoint, so evaluation and later
stages rebuild the same module from the checkpoint alone. Three tables keep the loop independent of model
families: RESOLVERS (reference kind -> record), BUILDERS (record kind -> nn.Module) and CLIP_SAMPLERS, filled on
first use from the model kinds declared in e3d.model_kinds (a new model source, such as a DARTS genotype or an
SGS-augmented network, is one entry there).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np
import torch.nn as nn

from e3d.data.sampling import DEFAULT_SPACING
from e3d.errors import UserError
from e3d.model_kinds import MODEL_KINDS, load, parse_reference


class ArchRefError(UserError):
    """An architecture reference that cannot be resolved; the message names the reference."""


@dataclass(frozen=True)
class ModelOptions:
    """What the training config may change about a resolved architecture."""

    frames: int | None = None
    resolution: int | None = None
    se_ratio: float | None = None  # Appendix F: SE added for training (None = the spec's own)
    act: str | None = None  # Appendix F: activation used for training (None = the spec's own)
    dropout: float | None = None  # the head's dropout (None = the spec's: E3D 0.2 as the authors, X3D 0.5)
    sample_rate: int | None = None  # the step between frames the training clips take (a searched cell's input)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


Resolver = Callable[[str, ModelOptions], dict[str, Any]]
Builder = Callable[[dict[str, Any], int], nn.Module]
RESOLVERS: dict[str, Resolver] = {}
BUILDERS: dict[str, Builder] = {}


def register_builder(kind: str, fn: Builder) -> None:
    """A builder for records of a kind e3d.model_kinds does not declare (test networks)."""
    BUILDERS[kind] = fn


# ---- hooks for model sources beyond a spec (registered by the plugins below) ----
class ClipSampler(Protocol):
    """Which frames a model reads, when it is not one contiguous clip (e.g. TSN segments). A record names
    its sampler in `record["clip_sampler"]` ({"kind": ..., **params}); None = the ordinary clip."""

    def train_indices(self, num_frames: int, frames: int, rate: int, rng: np.random.Generator) -> np.ndarray: ...

    def test_indices(self, num_frames: int, frames: int, rate: int, clips: int,
                     spacing: str = DEFAULT_SPACING) -> list[np.ndarray]: ...


CLIP_SAMPLERS: dict[str, Callable[[dict[str, Any]], ClipSampler]] = {}
_kinds_loaded = False


def _load_kinds() -> None:
    """Fill the three tables from e3d.model_kinds. On first use, not at import: the kinds' own modules import this
    one. Entries already there (a test's stand-in) are kept."""
    global _kinds_loaded
    if _kinds_loaded:
        return
    for kind in MODEL_KINDS:
        for ref_kind, target in kind.resolvers.items():
            RESOLVERS.setdefault(ref_kind, load(target))
        BUILDERS.setdefault(kind.name, load(kind.builder))
        for sampler, target in kind.samplers.items():
            CLIP_SAMPLERS.setdefault(sampler, load(target))
    _kinds_loaded = True


def run_sampler(record: dict[str, Any], sampling: str, frames: int) -> ClipSampler | None:
    """The sampler a training or evaluation run reads clips with: the record's own (e.g. DARTS's TSN segments),
    else the one the run's `sampling` setting names (None: one contiguous clip)."""
    from e3d.data.sampling import settings_sampler

    return clip_sampler(record) or settings_sampler(sampling, frames)


def clip_sampler(record: dict[str, Any]) -> ClipSampler | None:
    spec = record.get("clip_sampler")
    if not spec:
        return None
    kind = spec.get("kind") if isinstance(spec, dict) else None
    _load_kinds()
    if kind not in CLIP_SAMPLERS:
        raise ArchRefError(f"model record asks for clip sampler {kind!r}; known: {sorted(CLIP_SAMPLERS)}")
    return CLIP_SAMPLERS[kind]({k: v for k, v in spec.items() if k != "kind"})


def _metric_modules(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if callable(getattr(m, "collect_metrics", None))]


def reset_metrics(model: nn.Module) -> None:
    """Clear what modules with `reset_metrics()`/`collect_metrics()` (e.g. SGS's B' counts) have accumulated."""
    for m in _metric_modules(model):
        m.reset_metrics()


def collect_metrics(model: nn.Module, *, input_shape: tuple[int, ...], training: bool) -> dict[str, Any]:
    """What modules accumulated since the last reset, as metric fields (flat scalars while training, for the
    per-epoch rows; JSON-able values after evaluation, e.g. measured per-clip GFLOPs under `gflops_per_view`).
    Every process calls it (modules may all-reduce)."""
    out: dict[str, Any] = {}
    for m in _metric_modules(model):
        out.update(m.collect_metrics(model, input_shape=tuple(input_shape), training=training))
    return out


def split_ref(ref: str) -> tuple[str, str]:
    kind, value = parse_reference(ref)
    return (kind, value) if kind else (guess_kind(ref), ref)


def guess_kind(ref: str) -> str:
    p = Path(ref)
    if p.suffix == ".json" or p.exists():
        if not p.is_file():
            raise ArchRefError(f"architecture {ref!r}: no such file")
        try:
            doc = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ArchRefError(f"{ref}: not a readable JSON architecture ({exc})") from exc
        return "search" if isinstance(doc, dict) and isinstance(doc.get("spec"), dict) else "spec"
    return "builtin"


def resolve(ref: str, options: ModelOptions = ModelOptions()) -> dict[str, Any]:
    """Architecture reference -> model record (JSON-able, self-contained)."""
    kind, value = split_ref(ref)
    _load_kinds()
    record = RESOLVERS[kind](value, options)
    record.setdefault("source", ref)
    return record


def build(record: dict[str, Any], num_classes: int) -> nn.Module:
    kind = record.get("kind")
    _load_kinds()
    if kind not in BUILDERS:
        raise ArchRefError(f"model record of unknown kind {kind!r}; known: {sorted(BUILDERS)}")
    return BUILDERS[kind](record, num_classes)


def spec_of(record: dict[str, Any]):
    """The ArchSpec behind a record, or None for model sources that have no spec."""
    from e3d.arch.spec import spec_from_dict

    return spec_from_dict(record["spec"]) if record.get("kind") == "spec" else None


# ---- the spec family: built-in names, spec files, search results ----
def _spec_record(spec, options: ModelOptions) -> dict[str, Any]:
    # dropout changes the spec itself, so the record, arch.json and the profile all hold the rate trained with
    spec = spec.with_input(resolution=options.resolution, frames=options.frames).with_head_dropout(options.dropout)
    opts = {k: v for k, v in (("se_ratio", options.se_ratio), ("act", options.act)) if v is not None}
    # Through JSON: plain lists and dicts, as the record is stored in checkpoints and arch.json.
    return {"kind": "spec", "spec": json.loads(spec.to_json()), "build_options": opts}


def resolve_builtin(value: str, options: ModelOptions) -> dict[str, Any]:
    from e3d.arch.builtins import get_builtin

    try:
        return _spec_record(get_builtin(value), options)
    except UserError:
        raise
    except Exception as exc:  # get_builtin raises E3DError; keep the message, name the reference
        raise ArchRefError(f"architecture builtin:{value}: {exc}") from exc


def resolve_spec_file(value: str, options: ModelOptions) -> dict[str, Any]:
    try:
        from e3d.arch.resolve import resolve_spec  # built-in names, JSON specs and the authors' format
    except ImportError:
        from e3d.arch.spec import load_spec_file as resolve_spec
    return _spec_record(resolve_spec(value), options)


def resolve_search(value: str, options: ModelOptions) -> dict[str, Any]:
    from e3d.arch.spec import SpecError, spec_from_dict
    from e3d.artifacts import read_json

    doc = read_json(value)
    if not isinstance(doc.get("spec"), dict):
        raise ArchRefError(f"{value}: search result carries no 'spec' object")
    try:
        spec = spec_from_dict(doc["spec"])
    except SpecError as exc:
        raise ArchRefError(f"{value}: {exc}") from exc
    return _spec_record(spec, options)


def resolve_variant(value: str, options: ModelOptions) -> dict[str, Any]:
    """`variant:S-2` (or `variant:BASE/S-2`): a paper Table 1 kernel-placement variant of X3D-S (or of BASE)."""
    from e3d.arch.resolve import variant_spec
    from e3d.arch.spec import SpecError

    try:
        return _spec_record(variant_spec(value), options)
    except SpecError as exc:
        raise ArchRefError(str(exc)) from exc


def build_spec(record: dict[str, Any], num_classes: int) -> nn.Module:
    from e3d.arch.spec import spec_from_dict
    from e3d.models import build_model

    return build_model(spec_from_dict(record["spec"]), num_classes, **record.get("build_options", {}))
