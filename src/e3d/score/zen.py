"""Zen-score (Lin et al. 2021) adapted to 3D CNNs, with the semantics of the reference implementation (Zen-NAS
`ZeroShotProxy/compute_zen_score.py`), clips instead of images:

- the full network as it trains (BN, activations, residuals), in train mode, every conv/linear weight ~ N(0, 1),
  BN affine 1/0 (`network_weight_gaussian_init`);
- x, e ~ N(0, 1) of shape [B, C, T, R, R]; the pre-GAP features f (the final conv's output) of x and of
  x + gamma e, gamma = 0.01 (mixup_gamma);
- delta = mean over the batch of sum over (C, T, H, W) of |f(x) - f(x + gamma e)|;
- BN variance correction: + sum over BN layers of ln sqrt(mean over channels of running_var). The reference reads
  running_var as the batch variance (the paper's sigma_i); we set BN momentum to 1 so that is exactly what it holds
  (the batch statistics of the last forward pass, the perturbed one, as in the reference);
- score = ln(delta) + correction, averaged over `repeats` re-initialisations.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from e3d.arch.spec import ArchSpec
from e3d.score.forward_common import (ForwardScoreError, build_scoring_model, check_positive, generator,
                                      gaussian_init_, randn, resolve_device)

DEFAULT_GAMMA = 1e-2
DEFAULT_BATCH = 4
DEFAULT_REPEATS = 2


@torch.no_grad()
def zen_model(model: nn.Module, in_channels: int, resolution: int, frames: int, *, gamma: float = DEFAULT_GAMMA,
              batch_size: int = DEFAULT_BATCH, repeats: int = DEFAULT_REPEATS, seed: int = 0, device=None) -> float:
    """Zen-score of a network exposing `features(x) -> [N, C, T, H, W]` (the output before global pooling)."""
    if not callable(getattr(model, "features", None)):
        raise ForwardScoreError(f"{type(model).__name__}: Zen-score needs a .features(x) method (pre-GAP output)")
    for name, v in (("batch_size", batch_size), ("repeats", repeats), ("resolution", resolution), ("frames", frames)):
        check_positive(name, v)
    if not gamma > 0:
        raise ForwardScoreError(f"Zen-score perturbation gamma must be > 0, got {gamma}")
    dev = resolve_device(device)
    model.to(dev)
    was_training = model.training
    model.train()
    gen = generator(seed)
    shape = (batch_size, in_channels, frames, resolution, resolution)
    values = []
    try:
        for _ in range(repeats):
            gaussian_init_(model, gen, 1.0, bn_momentum=1.0)
            x = randn(shape, gen, dev)
            e = randn(shape, gen, dev)
            f0 = model.features(x)
            f1 = model.features(x + gamma * e)
            delta = (f0 - f1).abs().flatten(1).sum(1).mean()
            correction = 0.0
            for m in model.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_var is not None:
                    correction += 0.5 * math.log(float(m.running_var.mean()))
            if not torch.isfinite(delta) or delta <= 0:
                raise ForwardScoreError(f"Zen-score: feature difference is {float(delta)} (degenerate network)")
            values.append(math.log(float(delta)) + correction)
    finally:
        model.train(was_training)
    score = sum(values) / len(values)
    if not math.isfinite(score):
        raise ForwardScoreError(f"Zen-score is not finite ({score})")
    return float(score)


def zen_score(spec: ArchSpec, resolution: int | None = None, frames: int | None = None, **kwargs) -> float:
    """Zen-score of `spec` at (resolution, frames) (defaults: the spec's own), on the network e3d.models builds."""
    r = spec.resolution if resolution is None else resolution
    t = spec.frames if frames is None else frames
    return zen_model(build_scoring_model(spec, r, t), spec.in_channels, r, t, **kwargs)


__all__ = ["zen_model", "zen_score"]
