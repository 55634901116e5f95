"""Measured cost of a network with an SGS layer: GFLOPs per clip at the clip's own B'.

Everything after the SGS layer runs on B' frames, and B' varies per clip, so the cost is a function of
B' alone (for a fixed input shape). We count it with fvcore on the shapes that really flow: the whole
network traced at batch 1 with the SGS layer emitting exactly w bins (SimilarityGuidedSampling.forced_width),
once per distinct w; a clip's cost is the entry for its own B'. The part before the layer is counted at T,
the SGS layer itself (embedding FCs, BN and the [C, B', T] x [C, T, H*W] matmul) at T in and B' out, and
the rest at B'. fvcore counts one multiply-add as one flop (the usual video GFLOPs convention).
"""

from __future__ import annotations

import logging
import warnings
from collections import Counter
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Iterable, Protocol, Sequence, runtime_checkable

import numpy as np
import torch
from torch import nn


@runtime_checkable
class SGSLayer(Protocol):
    """What the cost measurement needs of an SGS layer (e3d.sgs.module.SimilarityGuidedSampling): its number of
    bins B, each clip's B' (of the last forward, and since a reset) and a forced output width. An interface, so
    that the layer, which reports its measured cost at evaluation, imports this module and not the reverse."""

    num_bins: int
    last: Any  # e3d.sgs.module.SGSResult of the last forward (its .counts: each clip's B')

    def forced_width(self, width: int) -> AbstractContextManager[None]: ...

    def seen_counts(self) -> torch.Tensor: ...


def find_sgs_modules(model: nn.Module) -> list[SGSLayer]:
    return [m for m in model.modules() if isinstance(m, SGSLayer)]


def find_sgs(model: nn.Module) -> SGSLayer:
    """The one SGS layer of a network (one sampling stage per network, as in the authors' configs)."""
    found = find_sgs_modules(model)
    if len(found) != 1:
        raise ValueError(f"expected exactly one SimilarityGuidedSampling layer in the model, found {len(found)}")
    return found[0]


def active_bins_histogram(counts: Iterable[int] | torch.Tensor, num_bins: int | None = None) -> dict[int, int]:
    """Clips per B' value. With num_bins every value 1..num_bins is present (zeros included), so logged
    histograms from different epochs have the same columns."""
    if isinstance(counts, torch.Tensor):
        counts = counts.detach().cpu().reshape(-1).tolist()
    tally = Counter(int(c) for c in counts)
    if num_bins is None:
        return dict(sorted(tally.items()))
    outside = sorted(v for v in tally if not 1 <= v <= num_bins)
    if outside:
        raise ValueError(f"active_bins_histogram: B' values {outside} outside 1..{num_bins}")
    return {b: tally.get(b, 0) for b in range(1, num_bins + 1)}


def _fvcore_total(model: nn.Module, x: torch.Tensor) -> float:
    from fvcore.nn import FlopCountAnalysis

    analysis = FlopCountAnalysis(model, x).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    # tracing a data-dependent width (B' from .item()) is exactly what we mean to do here
    fv_logger = logging.getLogger("fvcore")
    level = fv_logger.level
    fv_logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return float(analysis.total())
    finally:
        fv_logger.setLevel(level)


@torch.no_grad()
def flops_of_clip(model: nn.Module, clip: torch.Tensor) -> float:
    """fvcore flops of one clip [C, T, H, W] run alone (batch 1): its B' is whatever the model computes."""
    was_training = model.training
    model.eval()
    try:
        return _fvcore_total(model, clip[None])
    finally:
        model.train(was_training)


@torch.no_grad()
def flops_by_width(model: nn.Module, input_shape: Sequence[int], widths: Iterable[int], *, seed: int = 0) -> dict[int, float]:
    """fvcore flops at batch 1 for each B' in widths. input_shape = (C, T, H, W) of one clip."""
    sgs = find_sgs(model)
    generator = torch.Generator().manual_seed(seed)
    param = next(model.parameters())
    x = torch.randn((1, *input_shape), generator=generator).to(device=param.device, dtype=param.dtype)
    was_training = model.training
    model.eval()
    table: dict[int, float] = {}
    try:
        for w in sorted(set(int(v) for v in widths)):
            if not 1 <= w <= sgs.num_bins:
                raise ValueError(f"flops_by_width: B' = {w} outside 1..{sgs.num_bins}")
            with sgs.forced_width(w):
                table[w] = _fvcore_total(model, x)
    finally:
        model.train(was_training)
    return table


@dataclass
class ClipCost:
    """Per-clip GFLOPs of a network with SGS over a set of clips (views).

    gflops: one entry per clip, in input order. per_width: GFLOPs for each B' that occurred.
    histogram: clips per B' (1..B). full_gflops: the same network with B' = B (no temporal reduction),
    the denominator of `ratio_to_full`; compare with the base model without SGS for the table ratio."""

    counts: np.ndarray
    gflops: np.ndarray
    per_width: dict[int, float]
    histogram: dict[int, int]
    full_gflops: float
    num_bins: int
    frames: int

    @property
    def mean(self) -> float:
        return float(self.gflops.mean()) if self.gflops.size else float("nan")

    @property
    def ratio_to_full(self) -> float:
        return self.mean / self.full_gflops

    def summary(self) -> dict[str, object]:
        g = self.gflops
        quantiles = np.quantile(g, [0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0]) if g.size else [float("nan")] * 7
        return {
            "clips": int(g.size),
            "frames": self.frames,
            "num_bins": self.num_bins,
            "gflops_mean": self.mean,
            "gflops_std": float(g.std()) if g.size else float("nan"),
            "gflops_min": float(quantiles[0]),
            "gflops_p05": float(quantiles[1]),
            "gflops_p25": float(quantiles[2]),
            "gflops_median": float(quantiles[3]),
            "gflops_p75": float(quantiles[4]),
            "gflops_p95": float(quantiles[5]),
            "gflops_max": float(quantiles[6]),
            "gflops_full": self.full_gflops,
            "ratio_to_full": self.ratio_to_full,
            "active_bins_mean": float(self.counts.mean()) if self.counts.size else float("nan"),
            "active_bins_histogram": {str(k): v for k, v in self.histogram.items()},
            "gflops_per_active_bins": {str(k): v for k, v in self.per_width.items()},
        }


def clip_cost(model: nn.Module, counts: Iterable[int] | torch.Tensor, input_shape: Sequence[int]) -> ClipCost:
    """GFLOPs per clip from the clips' recorded B' (e.g. SGSResult.counts collected during evaluation).

    input_shape = (C, T, H, W) of one clip as fed to the model."""
    if isinstance(counts, torch.Tensor):
        counts = counts.detach().cpu().reshape(-1).tolist()
    counts_arr = np.asarray([int(c) for c in counts], dtype=np.int64)
    sgs = find_sgs(model)
    widths = set(counts_arr.tolist()) | {sgs.num_bins}
    table = {w: f / 1e9 for w, f in flops_by_width(model, input_shape, widths).items()}
    gflops = np.asarray([table[int(c)] for c in counts_arr], dtype=np.float64)
    return ClipCost(
        counts=counts_arr,
        gflops=gflops,
        per_width={w: table[w] for w in sorted(set(counts_arr.tolist()))},
        histogram=active_bins_histogram(counts_arr, sgs.num_bins),
        full_gflops=table[sgs.num_bins],
        num_bins=sgs.num_bins,
        frames=int(input_shape[1]),
    )


@torch.no_grad()
def measure_clips(model: nn.Module, clips: Iterable[torch.Tensor], *, batch_size: int = 8) -> ClipCost:
    """Run the model (eval mode) over clips [C, T, H, W], record each clip's B', and cost them.

    B' of a clip depends only on that clip in eval mode (BatchNorm uses running statistics), so batching
    does not change it."""
    sgs = find_sgs(model)
    was_training = model.training
    model.eval()
    counts: list[int] = []
    shape: tuple[int, ...] | None = None
    batch: list[torch.Tensor] = []
    param = next(model.parameters())

    def flush() -> None:
        model(torch.stack(batch).to(device=param.device, dtype=param.dtype))
        counts.extend(sgs.last.counts.cpu().tolist())
        batch.clear()

    try:
        for clip in clips:
            if shape is None:
                shape = tuple(clip.shape)
            elif tuple(clip.shape) != shape:
                raise ValueError(f"measure_clips: clip shape {tuple(clip.shape)} differs from the first clip's {shape}")
            batch.append(clip)
            if len(batch) == batch_size:
                flush()
        if batch:
            flush()
    finally:
        model.train(was_training)
    if shape is None:
        raise ValueError("measure_clips: no clips given")
    return clip_cost(model, counts, shape)
