"""The differentiable core of Similarity Guided Sampling, as pure tensor functions.

Everything the SGS module does after its learned embedding lives here, so each step can be tested on
hand-chosen distances (the embedding is learned, so the worked example in the reference can only be
reproduced by feeding delta directly). Semantics follow the authors' code (see
shared/reference/sgs-atfr.md):

    delta'_t = delta_t / max_t delta_t * 2B            (the farthest frame maps to exactly 2B)
    psi_bt   = max(0, 1 + 1e-7 - |delta'_t - c_b|),    c_b = 2b - 1, b = 1..B
    O_b      = sum_t psi_bt I_t

Facts about the kernel worth knowing (the tests assert them):
- Every delta' in [0, 2B] lies within 1 of some centre, so every frame has weight >= 1e-7 somewhere.
- With the authors' kernel (boundary="both") a frame touches two bins exactly when |delta' - 2k| < 1e-7
  for an interior even integer 2k (1 <= k < B); both weights are then < 2e-7. Elsewhere it touches exactly
  one bin, with weight in (0, 1 + 1e-7]. Such ties are not rare: a clip of two repeated frames split 4/8
  over T = 12 puts the smaller group at delta' = 2B * 4/8 = B exactly, so B' exceeds the number of distinct
  frames (and can exceed T). boundary="nearest" (our default) keeps only the weight of the nearest centre,
  ties going to the lower bin: every frame is then in exactly one bin, so B' <= min(B, T) always and k
  groups of identical frames give B' <= k. It changes weights only inside those 2e-7-wide windows, where
  they are < 2e-7 anyway.
- The farthest frame always has delta' = 2B and so weight exactly 1e-7 (authors' behaviour; with
  kernel_norm="frame" it gets weight 1).
- d psi / d delta' is +1 left of a centre and -1 right of it inside the support, 0 outside and 0 at the
  centre itself (torch's subgradient of |x| at 0); the centres are constants.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

KERNEL_EPS = 1e-7  # the authors' "+1e-7": keeps a frame at exactly distance 1 from a centre in that bin
from e3d.sgs.config import BOUNDARIES, DISTANCES, KERNEL_NORMS  # noqa: E402,F401 (defined with the config)


def distance_to_mean(z: torch.Tensor, distance: str = "l2") -> torch.Tensor:
    """Per-frame distance of embeddings z [N, T, L] to their temporal mean, reduced over L explicitly.

    l2 / l1: vector norms of z_t - mean (linalg.vector_norm has a zero subgradient at 0, so identical
    frames give finite gradients). cosine: 1 - cos(z_t, mean), with the norm product clamped at 1e-12;
    note the BatchNorm at the end of the embedding pulls the temporal mean towards its shift beta
    (zero at init), so cosine distances are noisy for small batches.
    """
    if z.dim() != 3:
        raise ValueError(f"distance_to_mean: expected embeddings [N, T, L], got shape {tuple(z.shape)}")
    mean = z.mean(dim=1, keepdim=True)
    if distance == "l2":
        return torch.linalg.vector_norm(z - mean, ord=2, dim=2)
    if distance == "l1":
        return torch.linalg.vector_norm(z - mean, ord=1, dim=2)
    if distance == "cosine":
        dot = (z * mean).sum(dim=2)
        norms = torch.linalg.vector_norm(z, dim=2) * torch.linalg.vector_norm(mean, dim=2)
        return 1.0 - dot / norms.clamp_min(1e-12)
    raise ValueError(f"distance_to_mean: unknown distance {distance!r}; expected one of {', '.join(DISTANCES)}")


def noise_floor(z: torch.Tensor, distance: str = "l2") -> torch.Tensor:
    """[N, 1] distance below which a clip's spread is rounding noise: identical frames rarely embed to
    bitwise identical vectors (the temporal mean of equal values is not always exactly that value), and
    max-scaling would blow that noise up to [0, 2B]. 64 machine epsilons relative to the largest
    embedding norm (cosine distances are already relative)."""
    tol = 64.0 * torch.finfo(z.dtype).eps
    if distance == "cosine":
        return torch.full((z.shape[0], 1), tol, dtype=z.dtype, device=z.device)
    order = 1 if distance == "l1" else 2
    return tol * torch.linalg.vector_norm(z.detach(), ord=order, dim=2).amax(dim=1, keepdim=True)


def scale_distances(delta: torch.Tensor, num_bins: int, floor: torch.Tensor | float = 0.0) -> torch.Tensor:
    """delta [N, T] -> delta' in [0, 2B] with the per-clip maximum mapped to exactly 2B.

    Divides before multiplying so that max/max == 1 exactly and the farthest frame lands on 2B in any
    precision. A clip whose largest distance is <= floor (identical frames: 0, or rounding noise, see
    noise_floor) is placed on the first centre (delta' = 1): one bin holding the whole clip, instead of
    the 0/0 = NaN of the plain formula.
    """
    peak = delta.amax(dim=1, keepdim=True)
    degenerate = peak <= floor
    safe_peak = torch.where(degenerate, torch.ones_like(peak), peak)
    scaled = delta / safe_peak * (2.0 * num_bins)
    return torch.where(degenerate, torch.ones_like(scaled), scaled)


def bin_centres(num_bins: int, *, like: torch.Tensor) -> torch.Tensor:
    """The fixed centres 2b - 1 for b = 1..B (constants: they get no gradient)."""
    return torch.arange(1, 2 * num_bins, 2, dtype=like.dtype, device=like.device)


def nearest_bin(scaled: torch.Tensor, num_bins: int) -> torch.Tensor:
    """Index (0-based) of the nearest centre for delta' [N, T]; a tie at an even integer 2k goes to the
    lower bin (index k - 1), delta' = 0 to bin 0."""
    return (torch.ceil(scaled.detach() / 2) - 1).clamp(0, num_bins - 1).to(torch.int64)


def triangular_weights(scaled: torch.Tensor, num_bins: int, boundary: str = "nearest") -> torch.Tensor:
    """psi [N, B, T] for delta' [N, T]; autograd of this expression is the kernel's subgradient.

    boundary="both": the authors' kernel as is. "nearest": the same values, zeroed outside each frame's
    nearest bin (the selection is a constant for autograd)."""
    centres = bin_centres(num_bins, like=scaled)
    psi = torch.relu(1.0 + KERNEL_EPS - (scaled[:, None, :] - centres[None, :, None]).abs())
    if boundary == "both":
        return psi
    if boundary == "nearest":
        keep = torch.nn.functional.one_hot(nearest_bin(scaled, num_bins), num_bins).transpose(1, 2)
        return psi * keep.to(psi.dtype)
    raise ValueError(f"triangular_weights: unknown boundary {boundary!r}; expected one of {', '.join(BOUNDARIES)}")


def normalise_weights(psi: torch.Tensor, mode: str) -> torch.Tensor:
    """Optional normalisation of psi [N, B, T].

    none:  the authors' weights.
    frame: each frame's weights sum to 1 (a frame inside one bin gets weight exactly 1). The weight is
           then psi/psi, so the embedding gets no gradient through the weights (with boundary="both",
           only from frames on a bin boundary): the sampling becomes a hard assignment that the loss
           cannot shape; an ablation, not a training recipe.
    bin:   each non-empty bin's weights sum to 1 (O_b is a weighted mean of its frames, so output
           magnitude does not grow with the number of frames in a bin); empty bins stay zero.
    """
    if mode == "none":
        return psi
    if mode == "frame":
        # every frame has total weight >= 1e-7 (see module docstring), so no division by zero
        return psi / psi.sum(dim=1, keepdim=True)
    if mode == "bin":
        total = psi.sum(dim=2, keepdim=True)
        return psi / torch.where(total > 0, total, torch.ones_like(total))
    raise ValueError(f"normalise_weights: unknown mode {mode!r}; expected one of {', '.join(KERNEL_NORMS)}")


@dataclass
class PackedBins:
    """Bin weights after dropping empty bins and packing the rest to the front.

    weights: [N, B', T]; rows at or beyond a clip's count are zero.
    counts:  [N] int64, the active bins of each clip (its own B').
    mask:    [N, B'] bool, True for real (non-padding) rows.
    """

    weights: torch.Tensor
    counts: torch.Tensor
    mask: torch.Tensor

    @property
    def width(self) -> int:
        return int(self.weights.shape[1])


def pack_bins(psi: torch.Tensor, *, drop_empty: bool = True, force_width: int | None = None) -> PackedBins:
    """Drop bins whose weights sum to 0, pack the rest to the front (keeping centre order, i.e. the order
    of delta, not of time) and pad the batch to B' = the largest count.

    drop_empty=False keeps all B bins (B' = B, every row counted as real).
    force_width pads (with zero rows) or truncates to a given B'. It exists only for cost measurement:
    it yields the shapes a clip with that many active bins really has.
    """
    n, num_bins, _ = psi.shape
    if drop_empty:
        active = psi.sum(dim=2) > 0
        counts = active.sum(dim=1)
        # stable sort of "inactive" keeps the active bins in centre order at the front
        order = torch.sort((~active).to(torch.int8), dim=1, stable=True).indices
        packed = torch.gather(psi, 1, order[:, :, None].expand_as(psi))
        width = int(counts.max().item()) if n else 0
    else:
        counts = torch.full((n,), num_bins, dtype=torch.int64, device=psi.device)
        packed = psi
        width = num_bins
    if force_width is not None:
        if force_width < 1:
            raise ValueError(f"pack_bins: force_width must be >= 1, got {force_width}")
        width = force_width
        counts = counts.clamp(max=width)
    if width <= packed.shape[1]:
        packed = packed[:, :width]
    else:
        packed = torch.cat([packed, packed.new_zeros(n, width - packed.shape[1], packed.shape[2])], dim=1)
    mask = torch.arange(width, device=psi.device)[None, :] < counts[:, None]
    # inactive bins are all-zero rows already; the multiply only matters when truncating/forcing
    packed = packed * mask[:, :, None].to(packed.dtype)
    return PackedBins(weights=packed, counts=counts, mask=mask)


def apply_bins(features: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """O = psi I as one batched matmul: features [N, C, T, H, W], weights [N, B', T] -> [N, C, B', H, W].

    The weights are expanded (a view) over channels so the traced matmul has the true shapes
    [N, C, B', T] x [N, C, T, H*W] and fvcore counts N*C*B'*T*H*W multiply-adds.
    """
    n, c, t, h, w = features.shape
    if weights.shape[0] != n or weights.shape[2] != t:
        raise ValueError(f"apply_bins: weights {tuple(weights.shape)} do not match features {tuple(features.shape)}")
    weights = weights.to(features.dtype)
    out = torch.matmul(weights[:, None].expand(n, c, weights.shape[1], t), features.reshape(n, c, t, h * w))
    return out.reshape(n, c, weights.shape[1], h, w)


def sample_from_distances(
    features: torch.Tensor,
    delta: torch.Tensor,
    num_bins: int,
    *,
    kernel_norm: str = "none",
    drop_empty: bool = True,
    boundary: str = "nearest",
    force_width: int | None = None,
    floor: torch.Tensor | float = 0.0,
) -> tuple[torch.Tensor, PackedBins]:
    """Everything after the distance: scale, kernel, normalise, pack, weighted sums."""
    scaled = scale_distances(delta, num_bins, floor)
    psi = normalise_weights(triangular_weights(scaled, num_bins, boundary), kernel_norm)
    packed = pack_bins(psi, drop_empty=drop_empty, force_width=force_width)
    return apply_bins(features, packed.weights), packed
