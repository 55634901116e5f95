"""TSN temporal segments inside a network: a clip of K segments x F frames is run as K short clips through
shared weights and the per-segment logits are averaged (consensus before the softmax)."""

from __future__ import annotations

import torch

from e3d.errors import E3DError


class ClipShapeError(E3DError, ValueError):
    """An input whose frame count is not segments x frames per segment."""


def split_segments(x: torch.Tensor, segments: int, frames_per_segment: int) -> torch.Tensor:
    """[N, C, K*F, H, W] -> [N*K, C, F, H, W], segment-major within each video."""
    if x.dim() != 5:
        raise ClipShapeError(f"expected input [N, C, T, H, W], got shape {tuple(x.shape)}")
    n, c, t, h, w = x.shape
    if t != segments * frames_per_segment:
        raise ClipShapeError(
            f"input has T={t} frames; this network expects segments x frames_per_segment = "
            f"{segments} x {frames_per_segment} = {segments * frames_per_segment}"
        )
    x = x.view(n, c, segments, frames_per_segment, h, w).permute(0, 2, 1, 3, 4, 5)
    return x.reshape(n * segments, c, frames_per_segment, h, w)


def average_consensus(logits: torch.Tensor, segments: int) -> torch.Tensor:
    """[N*K, classes] -> [N, classes]: the mean over each video's K segments."""
    return logits.view(-1, segments, logits.shape[-1]).mean(dim=1)
