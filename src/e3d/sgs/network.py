"""Inserting the SGS layer into a network built from an architecture spec (E3D, X3D, ...).

The builder (e3d.models.build_model) inserts temporal modules at stage boundaries; SGS is one such module,
so the returned network is the plain model: everything after the insertion point runs on B' frames.

Batching: clips of a batch are zero-padded to the largest B' (as in the authors' code), so the layers after
SGS see padding frames for clips with fewer active bins; in eval mode a clip's B' does not depend on the
batch, but its logits do, slightly, through those padding frames. Evaluate with batch size 1 (or group
clips by B') where per-clip exactness matters; costs are always per clip (e3d.sgs.cost).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from torch import nn

from e3d.sgs.config import SGSConfig, SGSConfigError
from e3d.sgs.module import SimilarityGuidedSampling


def sgs_factory(config: SGSConfig, frames: int) -> Callable[[int], SimilarityGuidedSampling]:
    """factory(channels) for the builder's temporal_modules; B defaults to the clip length `frames`."""

    def make(channels: int) -> SimilarityGuidedSampling:
        return SimilarityGuidedSampling.from_config(channels, frames, config)

    return make


def build_sgs_model(spec: Any, num_classes: int, sgs_config: SGSConfig | Mapping[str, Any] | None = None,
                    **build_kwargs: Any) -> nn.Module:
    """The model of `spec` with one SGS layer after stage sgs_config.stage (-1 = after the stem, i = after
    super block i). The spec has no temporal stride, so the clip length at the insertion point, and the
    default B, is spec.frames. build_kwargs go to e3d.models.build_model (se_ratio, act)."""
    from e3d.models import build_model

    config = sgs_config if isinstance(sgs_config, SGSConfig) else SGSConfig.from_dict(sgs_config)
    last = len(spec.blocks) - 1
    if not -1 <= config.stage <= last:
        raise SGSConfigError(f"sgs.stage: {config.stage} is not in -1..{last} for {spec.name} "
                             f"(-1 = after the stem, i = after super block i)")
    before = (config.stage,) if config.placement == "before_act" else ()
    return build_model(spec, num_classes, temporal_modules={config.stage: sgs_factory(config, spec.frames)},
                       temporal_before_act=before, **build_kwargs)
