"""The SGS layer: learned embedding + the sampling core of e3d.sgs.sampling.

It reports its measured cost through e3d.sgs.cost, which knows the layer only by its interface (`SGSLayer`) and
finds it in a network (`find_sgs`).

forward(x [N, C, T, H, W]) returns the tensor [N, C, B', H, W], so it drops into any sequential
network; the per-clip bookkeeping of the last call is kept on the module (`last`), where a training or
evaluation loop reads it (B' histogram, per-clip GFLOPs).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

import torch
from torch import nn

from e3d.sgs.config import SGSConfig
from e3d.sgs.cost import clip_cost
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
        # Each clip's B' since the last reset_metrics(): the training loop logs the histogram per epoch, the
        # evaluation costs every view at its own B'. A plain list, not a buffer: DDP would overwrite buffers
        # with rank 0's, and checkpoints need not carry it.
        self._seen: list[torch.Tensor] = []

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
        if self._force_width is None and not torch.jit.is_tracing():  # cost measurement is not a clip
            self._seen.append(packed.counts.detach().to("cpu", torch.int64))
        return out

    # ---- statistics for the training loop and the evaluation (e3d.train.model_source.collect_metrics) ----
    def reset_metrics(self) -> None:
        self._seen = []

    def seen_counts(self) -> torch.Tensor:
        """B' of every clip since the last reset, in the order they were run."""
        return torch.cat(self._seen) if self._seen else torch.zeros(0, dtype=torch.int64)

    def collect_metrics(self, root: nn.Module, *, input_shape: tuple[int, ...], training: bool) -> dict[str, Any]:
        """Training: the B' histogram (summed over processes) as flat per-epoch columns. Evaluation: every view's
        GFLOPs at its own B' (fvcore on the shapes that flow, e3d.sgs.cost.clip_cost): mean per view, its
        distribution and the histogram; `gflops_per_view` replaces the static count of a fixed-shape model."""
        counts = self.seen_counts()
        self.reset_metrics()
        if training:
            return self._histogram_columns(counts, root)
        if counts.numel() == 0:
            return {}
        cost = clip_cost(root, counts, input_shape)
        return {"gflops_per_view": cost.mean, "sgs": cost.summary()}

    def _histogram_columns(self, counts: torch.Tensor, root: nn.Module) -> dict[str, Any]:
        import torch.distributed as dist

        hist = torch.bincount(counts.clamp(1, self.num_bins), minlength=self.num_bins + 1)[1:].double()
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            device = next(root.parameters()).device  # NCCL reduces CUDA tensors only
            hist = hist.to(device)
            dist.all_reduce(hist)
            hist = hist.cpu()
        total = float(hist.sum())
        widths = torch.arange(1, self.num_bins + 1, dtype=torch.float64)
        row: dict[str, Any] = {"sgs_active_bins_mean": float((hist * widths).sum()) / total if total else float("nan")}
        row.update({f"sgs_active_bins_{b}": int(hist[b - 1]) for b in range(1, self.num_bins + 1)})
        return row

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

