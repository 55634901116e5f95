"""MAE-DET entropy score (Sun et al. 2022b) adapted to 3D CNNs, with the semantics of its reference forward
implementation (TinyNAS `nas/scores/compute_entropy.py` with the masternet's `entropy_forward_pre_GAP`):

- every conv weight ~ N(0, init_std^2), the input clip [B, C, T, R, R] ~ N(0, init_std_act^2);
- the forward skips BN and activations and never adds the residual (BN "normalises entropies adaptively to the
  width" and must be removed; Appendix C of the E3D paper repeats this);
- after each conv the output's std is recorded and the output renormalised to unit std; the log std of a stage's
  output is the sum of the log stds of every conv up to it (the reference sums the per-block log stds of all
  blocks up to the stage end);
- stage score = that log std + ln(stage output width); score = sum_s weight_s * stage score, averaged over repeats.

Stages follow TinyNAS `get_stage_info` (see forward_common.stage_ends_of): five for the E3D space. The default
weights (0, 0, 1, 1, 6) are MAE-DET's own multi-scale weights: TinyNAS's MAE-DET scorer (`ComputeMadnasScore`,
`nas/scores/compute_madnas.py`) defaults to `multi_block_ratio=[0, 0, 1, 1, 6]` and adds ln(stage width) to each
stage's log std before weighting, as here; (0, 0, 0, 0, 1) gives the final-feature-map entropy (the forward
counterpart of HomoEntr).
"""

from __future__ import annotations

import math
from typing import Sequence

from e3d.arch.spec import ArchSpec
from e3d.score.forward_common import (ConvUnits, ForwardScoreError, check_positive, conv_units_of_spec, generator,
                                      gaussian_init_, log_std_walk, randn, resolve_device)

DEFAULT_STAGE_WEIGHTS = (0.0, 0.0, 1.0, 1.0, 6.0)
DEFAULT_BATCH = 4
DEFAULT_REPEATS = 2


def madet_units(net: ConvUnits, resolution: int, frames: int, *, stage_weights: Sequence[float] = DEFAULT_STAGE_WEIGHTS,
                batch_size: int = DEFAULT_BATCH, repeats: int = DEFAULT_REPEATS, init_std: float = 1.0,
                init_std_act: float = 1.0, seed: int = 0, device=None) -> float:
    """MAE-DET score of a conv-unit network (see the module docstring)."""
    weights = [float(w) for w in stage_weights]
    if len(weights) != len(net.stage_ends):
        raise ForwardScoreError(f"MAE-DET stage weights {weights} have {len(weights)} entries; the network has "
                                f"{len(net.stage_ends)} stages")
    for name, v in (("batch_size", batch_size), ("repeats", repeats), ("resolution", resolution), ("frames", frames)):
        check_positive(name, v)
    if not (init_std > 0 and init_std_act > 0):
        raise ForwardScoreError(f"init_std and init_std_act must be > 0, got {init_std}, {init_std_act}")
    dev = resolve_device(device)
    net.to(dev)
    gen = generator(seed)
    log_c = [math.log(c) for c in net.stage_channels]
    totals = []
    for _ in range(repeats):
        for _, convs in net.units:
            for conv in convs:
                gaussian_init_(conv, gen, init_std)
        x = randn((batch_size, net.in_channels, frames, resolution, resolution), gen, dev, init_std_act)
        stage_log_std = log_std_walk(net, x)
        totals.append(math.fsum(w * (s + c) for w, s, c in zip(weights, stage_log_std, log_c) if w))
    return float(sum(totals) / len(totals))


def madet_score(spec: ArchSpec, resolution: int | None = None, frames: int | None = None, **kwargs) -> float:
    """MAE-DET score of `spec` at (resolution, frames) (defaults: the spec's own); kwargs as madet_units."""
    r = spec.resolution if resolution is None else resolution
    t = spec.frames if frames is None else frames
    return madet_units(conv_units_of_spec(spec.with_input(r, t)), r, t, **kwargs)


__all__ = ["DEFAULT_STAGE_WEIGHTS", "madet_score", "madet_units"]
