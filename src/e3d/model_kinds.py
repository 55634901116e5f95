"""The model kinds: one declaration per family of networks the pipeline trains, and the parser of the architecture
references that name them.

An architecture reference is `KIND:VALUE` (`builtin:x3d-s`, `spec:net.json`, `search:work/search/s/arch.json`,
`variant:S-2`, `darts:genotype.json`, `sgs:{...}`) or a bare built-in name or path, whose kind the caller guesses.
Each ModelKind below says which reference kinds it answers, the functions that resolve such a reference to a model
record and build the record's network, the clip samplers its records may ask for, how a `models:` config entry
becomes the reference `e3d train --arch` gets, and the modules whose edits change the networks it builds (a param of
the train and evaluate rules, see e3d.provenance). e3d.train.model_source, e3d.train.workflow and e3d.provenance all
read this table, so adding a model family is one entry here plus its own modules.

Functions are named "module:attribute" and imported when first used: this module imports nothing (no torch), as
the rule files and e3d.provenance import it while Snakemake builds the DAG.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ModelKind:
    # The record kind (record["kind"]) its builder builds.
    name: str
    # Reference kind -> "module:function" (value, ModelOptions) -> model record.
    resolvers: dict[str, str]
    # "module:function" (record, num_classes) -> nn.Module.
    builder: str
    # Clip sampler kind (record["clip_sampler"]["kind"]) -> "module:function" (params) -> ClipSampler.
    samplers: dict[str, str] = field(default_factory=dict)
    # Config reference kind -> "module:function" (value, config) -> (file the train job depends on or None, the
    # `e3d train --arch` reference). A kind not listed passes to `e3d train` unchanged.
    workflow_refs: dict[str, str] = field(default_factory=dict)
    # A models-entry key (`darts:`, `sgs:`) whose block wraps the entry's reference, and the "module:function"
    # (reference, block, config) -> reference that does it.
    entry_block: tuple[str, str] | None = None
    # Package-relative modules (or subpackages) the built networks depend on, besides the train and arch code.
    code: tuple[str, ...] = ()
    # Whether the profile rule (fvcore counting the trained spec) describes these models.
    profiled: bool = True


MODEL_KINDS: tuple[ModelKind, ...] = (
    # Built-in names, spec files, search results and Table 1 variants: an ArchSpec built by e3d.models.
    ModelKind(
        name="spec",
        resolvers={"builtin": "e3d.train.model_source:resolve_builtin",
                   "spec": "e3d.train.model_source:resolve_spec_file",
                   "search": "e3d.train.model_source:resolve_search",
                   "variant": "e3d.train.model_source:resolve_variant"},
        builder="e3d.train.model_source:build_spec",
        # `spec:FILE` depends on the file; `search:RUN` names a run of the search stage (its arch.json)
        workflow_refs={"spec": "e3d.train.workflow:spec_file_source",
                       "search": "e3d.train.workflow:search_run_source"},
        code=("model_kinds.py", "models"),
    ),
    # DARTS-P3D's searched cell network, retrained from scratch on TSN segments; no spec to profile.
    ModelKind(
        name="darts",
        resolvers={"darts": "e3d.darts.model_source:resolve_darts"},
        builder="e3d.darts.model_source:build_darts",
        samplers={"segments": "e3d.darts.model_source:segment_sampler"},
        workflow_refs={"darts": "e3d.darts.workflow:workflow_ref"},
        entry_block=("darts", "e3d.darts.workflow:wrap_entry"),
        code=("darts/model_source.py", "darts/workflow.py", "darts/network.py", "darts/cells.py", "darts/ops.py",
              "darts/genotype.py", "darts/segments.py", "darts/space.py", "darts/data.py"),
        profiled=False,
    ),
    # A spec-built model with one SGS layer; the profile would count the base at full length (the measured
    # per-view cost is in the evaluation).
    ModelKind(
        name="sgs",
        resolvers={"sgs": "e3d.sgs.model_source:resolve_sgs"},
        builder="e3d.sgs.model_source:build_sgs",
        entry_block=("sgs", "e3d.sgs.workflow:wrap_entry"),
        code=("sgs",),
        profiled=False,
    ),
)

REFERENCE_KINDS: dict[str, ModelKind] = {ref: kind for kind in MODEL_KINDS for ref in kind.resolvers}


def kind_named(name: str) -> ModelKind:
    return next(kind for kind in MODEL_KINDS if kind.name == name)


def parse_reference(text: str) -> tuple[str | None, str]:
    """`KIND:VALUE` with KIND a declared reference kind -> (KIND, VALUE); anything else -> (None, text): a bare
    built-in name or a path (`C:/nets/x.json` too), whose kind the caller guesses."""
    kind, sep, value = str(text).partition(":")
    if sep and kind in REFERENCE_KINDS:
        return kind, value
    return None, str(text)


def undeclared_kind(text: str) -> str | None:
    """The KIND of a `KIND:VALUE` whose KIND reads as a reference kind but is none (a typo such as `serach:`, or a
    Windows drive letter); None when the text has no such prefix or its kind is declared."""
    kind, sep, _ = str(text).partition(":")
    return kind if sep and kind.isidentifier() and kind not in REFERENCE_KINDS else None


def kind_of_reference(text: str) -> ModelKind | None:
    """The model kind a reference names explicitly; None for a bare name or path."""
    ref_kind, _ = parse_reference(text)
    return REFERENCE_KINDS[ref_kind] if ref_kind else None


def code_modules() -> tuple[str, ...]:
    """Every kind's code modules, in declaration order (the train and evaluate digests cover them)."""
    return tuple(dict.fromkeys(m for kind in MODEL_KINDS for m in kind.code))


def load(target: str) -> Any:
    """The attribute a "module:attribute" string names."""
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)
