"""The forward-inference entropy estimate that the E3D paper (Sec. 3.1 and 4.4) replaces by its analytic score.

Sample the input and every conv weight from a standard Gaussian, run the plain network (no BN, no activation, zero
bias: the paper's "simple network space"), and take the entropy of the last feature map, which for a Gaussian is
ln sigma up to a constant (Eq. 1). We report it on the scale of the authors' code, where every term is
1/2 ln(variance) = ln(std): in expectation of the variance, ln std of the last feature map equals the sum over
convs of 1/2 ln(C_in K_t K_h K_w) (Eq. 5), i.e. HomoEntr without its ln(C_out) term. `forward_entropy_score` adds
ln(C_out) so that it estimates HomoEntr of a spec; padding at the borders of small feature maps lowers it a little.

Figure 4 (`three_layer_net`, `forward_three_layer`, `analytic_three_layer`): 1x1x1 -> 3x3x3 -> 1x1x1, stride 1, all
widths C, on a 5x5x5 input. We use no padding, so every output element sees a full receptive field and Eq. 5 holds
exactly in expectation: the forward values then scatter around the analytic one instead of sitting below it.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from e3d.arch.spec import ArchSpec
from e3d.score.forward_common import (ConvUnits, ForwardScoreError, check_positive, conv_units_of_spec, generator,
                                      gaussian_init_, log_std_walk, randn, resolve_device)

DEFAULT_BATCH = 4
DEFAULT_REPEATS = 2
FIG4_KERNELS = ((1, 1, 1), (3, 3, 3), (1, 1, 1))
FIG4_INPUT = 5


def forward_entropy_units(net: ConvUnits, resolution: int, frames: int, *, batch_size: int = DEFAULT_BATCH,
                          repeats: int = DEFAULT_REPEATS, seed: int = 0, device=None) -> float:
    """ln std of the last feature map + ln(final width), averaged over `repeats` fresh Gaussian draws."""
    for name, v in (("batch_size", batch_size), ("repeats", repeats), ("resolution", resolution), ("frames", frames)):
        check_positive(name, v)
    dev = resolve_device(device)
    net.to(dev)
    gen = generator(seed)
    values = []
    for _ in range(repeats):
        for _, convs in net.units:
            for conv in convs:
                gaussian_init_(conv, gen)
        x = randn((batch_size, net.in_channels, frames, resolution, resolution), gen, dev)
        values.append(log_std_walk(net, x)[-1] + math.log(net.stage_channels[-1]))
    return float(sum(values) / len(values))


def forward_entropy_score(spec: ArchSpec, resolution: int | None = None, frames: int | None = None,
                          **kwargs) -> float:
    r = spec.resolution if resolution is None else resolution
    t = spec.frames if frames is None else frames
    return forward_entropy_units(conv_units_of_spec(spec.with_input(r, t)), r, t, **kwargs)


# ---- Figure 4 -----------------------------------------------------------------------------------------------------
def three_layer_net(channels: int) -> nn.Sequential:
    check_positive("channels", channels)
    return nn.Sequential(*[nn.Conv3d(channels, channels, k, stride=1, padding=0, bias=False) for k in FIG4_KERNELS])


def analytic_three_layer(channels: int) -> float:
    """HomoEntr of the three-layer network on the code's scale: sum over layers of 1/2 ln(C_in Kt Kh Kw)."""
    return 0.5 * math.fsum(math.log(channels * kt * kh * kw) for kt, kh, kw in FIG4_KERNELS)


@torch.no_grad()
def forward_three_layer(net: nn.Sequential, gen: torch.Generator, device: torch.device, batch_size: int = 1,
                        size: int = FIG4_INPUT) -> float:
    """One forward estimate: re-initialise every conv from N(0, 1), draw a fresh N(0, 1) input, return ln std of the
    output (1/2 ln of its variance)."""
    gaussian_init_(net, gen)
    c = net[0].in_channels
    out = net(randn((batch_size, c, size, size, size), gen, device))
    var = out.var()
    if not torch.isfinite(var) or var <= 0:
        raise ForwardScoreError(f"three-layer net with C={c}: output variance {float(var)}")
    return 0.5 * float(torch.log(var))


__all__ = ["forward_entropy_score", "forward_entropy_units", "three_layer_net", "analytic_three_layer",
           "forward_three_layer"]
