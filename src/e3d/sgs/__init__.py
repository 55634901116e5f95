"""Similarity Guided Sampling (adaptive temporal feature resolution), seed 002_bf3b214faca7041e.

sampling: the differentiable core on given distances. module: the layer. config: SGSConfig.
cost: measured GFLOPs per clip at its own B', B' histograms. network: inserting the layer into a model.
"""

from e3d.sgs.config import SGSConfig, SGSConfigError
from e3d.sgs.cost import ClipCost, active_bins_histogram, clip_cost, flops_by_width, flops_of_clip, measure_clips
from e3d.sgs.module import SGSResult, SimilarityGuidedSampling, find_sgs, find_sgs_modules
from e3d.sgs.network import build_sgs_model, sgs_factory

__all__ = [
    "SGSConfig", "SGSConfigError", "SGSResult", "SimilarityGuidedSampling", "find_sgs", "find_sgs_modules",
    "ClipCost", "active_bins_histogram", "clip_cost", "flops_by_width", "flops_of_clip", "measure_clips",
    "build_sgs_model", "sgs_factory",
]
