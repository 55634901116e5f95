"""The SGS layer: learned embedding + the sampling core of e3d.sgs.sampling.

forward(x [N, C, T, H, W]) returns the tensor [N, C, B', H, W], so it drops into any sequential
network; the per-clip bookkeeping of the last call is kept on the module (`last`), where a training or
evaluation loop reads it (B' histogram, per-clip GFLOPs).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import torch
from torch import nn

from e3d.sgs.config import SGSConfig
from e3d.sgs.sampling import distance_to_mean, noise_floor, sample_from_distances


@dataclass
class SGSResult:
    """The last forward's bookkeeping (detached).

    counts: [N] each clip's own number of active bins B'_n. mask: [N, B'] True on real rows.
    weights: [N, B', T] the packed bin weights. delta: [N, T] raw distances before scaling."""

    counts: torch.Tensor
    mask: torch.Tensor
    weights: torch.Tensor
    delta: torch.Tensor

    @property
    def width(self) -> int:
        return int(self.mask.shape[1])


class SimilarityGuidedSampling(nn.Module):
    def __init__(self, channels: int, num_bins: int, *, embed_dim: int = 8, distance: str = "l2",
                 kernel_norm: str = "none", boundary: str = "nearest", drop_empty_bins: bool = True) -> None:
        super().__init__()
        # validates the options with user-facing messages
        SGSConfig(num_bins=num_bins, embed_dim=embed_dim, distance=distance, kernel_norm=kernel_norm,
                  boundary=boundary, drop_empty_bins=drop_empty_bins)
        if channels < 1:
            raise ValueError(f"SimilarityGuidedSampling: channels must be >= 1, got {channels}")
        hidden = max(1, channels // 2)
        self.channels = channels
        self.num_bins = num_bins
        self.distance = distance
        self.kernel_norm = kernel_norm
        self.boundary = boundary
        self.drop_empty_bins = drop_empty_bins
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, embed_dim)
        self.bn = nn.BatchNorm1d(embed_dim)
        self.last: SGSResult | None = None
        self._force_width: int | None = None

    @classmethod
    def from_config(cls, channels: int, frames: int, config: SGSConfig) -> "SimilarityGuidedSampling":
        return cls(channels, config.bins_for(frames), embed_dim=config.embed_dim, distance=config.distance,
                   kernel_norm=config.kernel_norm, boundary=config.boundary,
                   drop_empty_bins=config.drop_empty_bins)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """[N, C, T, H, W] -> [N, T, L]; BatchNorm statistics are over clips and frames."""
        pooled = x.mean(dim=(3, 4)).transpose(1, 2)  # [N, T, C]
        z = self.fc2(torch.relu(self.fc1(pooled)))  # [N, T, L]
        return self.bn(z.transpose(1, 2)).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5 or x.shape[1] != self.channels:
            raise ValueError(f"SimilarityGuidedSampling: expected [N, {self.channels}, T, H, W], got {tuple(x.shape)}")
        z = self.embed(x)
        if z.dtype in (torch.float16, torch.bfloat16):
            # the bin assignment is decided by small distance differences; half precision would make the
            # noise floor 64 * eps ~ 6 % of the embedding norm
            z = z.float()
        delta = distance_to_mean(z, self.distance)
        out, packed = sample_from_distances(x, delta, self.num_bins, kernel_norm=self.kernel_norm,
                                            drop_empty=self.drop_empty_bins, boundary=self.boundary,
                                            force_width=self._force_width,
                                            floor=noise_floor(z, self.distance))
        self.last = SGSResult(counts=packed.counts.detach(), mask=packed.mask.detach(),
                              weights=packed.weights.detach(), delta=delta.detach())
        return out

    @contextmanager
    def forced_width(self, width: int) -> Iterator[None]:
        """Make forward emit exactly `width` bins (zero-padded or truncated). Only for cost measurement:
        the shapes downstream are then those of a clip with `width` active bins."""
        previous = self._force_width
        self._force_width = int(width)
        try:
            yield
        finally:
            self._force_width = previous

    def extra_repr(self) -> str:
        return (f"channels={self.channels}, num_bins={self.num_bins}, embed_dim={self.fc2.out_features}, "
                f"distance={self.distance}, kernel_norm={self.kernel_norm}, boundary={self.boundary}, drop_empty_bins={self.drop_empty_bins}")


def find_sgs_modules(model: nn.Module) -> list[SimilarityGuidedSampling]:
    return [m for m in model.modules() if isinstance(m, SimilarityGuidedSampling)]


def find_sgs(model: nn.Module) -> SimilarityGuidedSampling:
    """The one SGS layer of a network (one sampling stage per network, as in the authors' configs)."""
    found = find_sgs_modules(model)
    if len(found) != 1:
        raise ValueError(f"expected exactly one SimilarityGuidedSampling layer in the model, found {len(found)}")
    return found[0]
