"""Similarity Guided Sampling (adaptive temporal feature resolution), seed 002_bf3b214faca7041e.

sampling: the differentiable core on given distances. module: the layer. config: SGSConfig.
cost: measured GFLOPs per clip at its own B', B' histograms, finding the layer in a network.
network: inserting the layer into a model.

Names are imported lazily: the workflow imports e3d.sgs.config/workflow while Snakemake builds the DAG, and
that must not pay for importing torch.
"""

import importlib

_EXPORTS = {
    "SGSConfig": "config", "SGSConfigError": "config",
    "ClipCost": "cost", "active_bins_histogram": "cost", "clip_cost": "cost", "flops_by_width": "cost",
    "flops_of_clip": "cost", "measure_clips": "cost", "find_sgs": "cost", "find_sgs_modules": "cost",
    "SGSResult": "module", "SimilarityGuidedSampling": "module",
    "build_sgs_model": "network", "sgs_factory": "network",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"e3d.sgs.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'e3d.sgs' has no attribute {name!r}")
