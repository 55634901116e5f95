"""Shared machinery of the forward-inference scores (Zen-score, MAE-DET, the forward entropy estimate): device
choice with a clean CPU fallback, seeded Gaussian initialisation, and the network's convolutions grouped into the
units and stages the reference implementations walk.

Determinism: every random tensor (weights and inputs) is drawn from one seeded *CPU* generator and then moved to
the device, so a seed gives the same draws on the CPU and on a GPU (the values then differ only by the device's
floating-point reductions), and the same seed gives the same score on the same device.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from e3d.arch.spec import ArchSpec
from e3d.errors import E3DError


class ForwardScoreError(E3DError, ValueError):
    """A forward-inference score that cannot be computed (bad settings, unsupported network)."""


def resolve_device(device: str | torch.device | None) -> torch.device:
    """None/"auto": a GPU when one is present, else the CPU. An explicit "cuda" without a GPU falls back to the CPU
    with a warning, so a config written for a GPU machine still runs (slower) on a CPU-only one."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ForwardScoreError(f"device must be cpu, cuda[:N] or auto, got {device!r}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        warnings.warn(f"device {device!r} requested but no GPU is available; scoring on the CPU", stacklevel=2)
        return torch.device("cpu")
    if dev.type not in ("cpu", "cuda"):
        raise ForwardScoreError(f"device must be cpu, cuda[:N] or auto, got {device!r}")
    return dev


def generator(seed: int) -> torch.Generator:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ForwardScoreError(f"seed must be an integer, got {seed!r}")
    return torch.Generator(device="cpu").manual_seed(seed)


def randn(shape: Sequence[int], gen: torch.Generator, device: torch.device, std: float = 1.0) -> torch.Tensor:
    x = torch.randn(tuple(shape), generator=gen, dtype=torch.float32)
    if std != 1.0:
        x.mul_(std)
    return x.to(device)


@torch.no_grad()
def gaussian_init_(model: nn.Module, gen: torch.Generator, std: float = 1.0, bn_momentum: float | None = 1.0) -> None:
    """The reference codes' `network_weight_gaussian_init`: conv and linear weights ~ N(0, std^2), biases 0,
    BN affine weight 1 and bias 0. `bn_momentum=1` makes a BN layer's running variance the batch variance of the
    last forward pass (TinyNAS sets it so; Zen-NAS's correction reads running_var as that batch statistic)."""
    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
            m.weight.copy_(randn(m.weight.shape, gen, m.weight.device, std))
            if m.bias is not None:
                m.bias.zero_()
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            if m.weight is not None:
                m.weight.fill_(1.0)
                m.bias.zero_()
            if m.running_mean is not None:
                m.running_mean.zero_()
                m.running_var.fill_(1.0)
            if bn_momentum is not None:
                m.momentum = bn_momentum


def check_positive(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ForwardScoreError(f"{name} must be a positive integer, got {value!r}")
    return value


# ---- the network as units of plain convolutions ------------------------------------------------------------------
@dataclass
class ConvUnits:
    """A network's convolutions in forward order, grouped into units (stem, each inverted-bottleneck layer, final
    conv), with the units that end a stage. BN, activations, SE and residual paths are left out: that is the
    "simple network space" the entropy scores are defined on (paper Sec. 3.2; MAE-DET's skip_bn / skip_relu forward,
    which never adds the residual)."""

    units: list[tuple[str, list[nn.Module]]]
    stage_ends: list[int]  # unit index that ends each stage, ascending; the last unit always ends the last stage
    stage_channels: list[int]  # output width of each stage
    in_channels: int
    modules: nn.Module | None = None  # owner of the convs (moved to the device as a whole)

    def __post_init__(self) -> None:
        if not self.units:
            raise ForwardScoreError("a network needs at least one conv unit")
        if not self.stage_ends or self.stage_ends[-1] != len(self.units) - 1:
            raise ForwardScoreError(f"stage ends {self.stage_ends} must end at the last unit {len(self.units) - 1}")
        if len(self.stage_channels) != len(self.stage_ends):
            raise ForwardScoreError("one stage width per stage end")

    def to(self, device: torch.device) -> "ConvUnits":
        if self.modules is not None:
            self.modules.to(device)
        else:
            for _, convs in self.units:
                for c in convs:
                    c.to(device)
        return self


def stage_ends_of(spec: ArchSpec) -> list[int]:
    """TinyNAS `get_stage_info` on the top-level units (stem, super blocks, final conv): a stage ends just before a
    unit with spatial stride 2, and at the last unit. For E3D (strides 2 | 2,2,2,1,2 | 1) that is five stages:
    [stem], [block 0], [block 1], [blocks 2-3], [block 4, final conv] — the five entries of MAE-DET's weights."""
    top = [spec.stem.stride] + [b.stride for b in spec.blocks] + [spec.final.stride]
    # top-level unit i -> index of its last conv unit (super block i-1 spans `layers` units)
    last_unit = [0]
    for b in spec.blocks:
        last_unit.append(last_unit[-1] + b.layers)
    last_unit.append(last_unit[-1] + 1)
    ends = [last_unit[i - 1] for i in range(1, len(top)) if top[i] == 2]
    ends.append(last_unit[-1])
    return sorted(set(ends))


def build_scoring_model(spec: ArchSpec, resolution: int | None = None, frames: int | None = None) -> nn.Module:
    """The network of `spec` from the one builder (e3d.models.build_model); the head is irrelevant to every score."""
    try:
        from e3d.models import build_model
    except ModuleNotFoundError as exc:  # the builder lands from the `arch` branch
        raise ForwardScoreError("forward-inference scores need the PyTorch builder e3d.models, which is not "
                                "installed in this checkout") from exc
    spec = spec.with_input(resolution, frames)
    return build_model(spec, num_classes=1)


def _first_conv(module: nn.Module, where: str) -> nn.Module:
    for m in (module if isinstance(module, nn.Sequential) else [module]):
        if isinstance(m, nn.Conv3d):
            return m
    raise ForwardScoreError(f"{where}: no Conv3d found where the builder puts one")


def conv_units_of_model(model: nn.Module, spec: ArchSpec) -> ConvUnits:
    """Walk a network built by e3d.models (stem, stages of inverted bottlenecks, final conv) into ConvUnits."""
    for attr in ("stem", "stages", "final"):
        if not hasattr(model, attr):
            raise ForwardScoreError(f"{type(model).__name__}: not a network from e3d.models (no .{attr})")
    units: list[tuple[str, list[nn.Module]]] = []
    units.append(("stem", [m for m in model.stem if isinstance(m, nn.Conv3d)]))
    for bi, stage in enumerate(model.stages):
        for li, layer in enumerate(stage):
            convs = [_first_conv(getattr(layer, part), f"blocks[{bi}].layer[{li}].{part}")
                     for part in ("expand", "depthwise", "project")]
            units.append((f"blocks[{bi}].layer[{li}]", convs))
    units.append(("final", [m for m in model.final if isinstance(m, nn.Conv3d)]))
    ends = stage_ends_of(spec)
    widths = [spec.stem.out] + [b.out for b in spec.blocks for _ in range(b.layers)] + [spec.final.out]
    return ConvUnits(units, ends, [widths[e] for e in ends], spec.in_channels, modules=model)


def conv_units_of_spec(spec: ArchSpec) -> ConvUnits:
    return conv_units_of_model(build_scoring_model(spec), spec)


@torch.no_grad()
def log_std_walk(net: ConvUnits, x: torch.Tensor) -> list[float]:
    """Forward `x` through the plain conv chain; returns, for each stage end, the log of the standard deviation the
    un-normalised chain would have there. After every conv the output's std is recorded and the output divided by
    it (MAE-DET's `entropy_forward`), so deep networks neither overflow nor underflow in float32."""
    total = 0.0
    out = []
    ends = set(net.stage_ends)
    for i, (_, convs) in enumerate(net.units):
        for conv in convs:
            x = conv(x)
            s = x.std()
            if not torch.isfinite(s) or s <= 0:
                raise ForwardScoreError(f"unit {net.units[i][0]}: feature std is {float(s)} (degenerate forward)")
            total += float(torch.log(s))
            x = x / s
        if i in ends:
            out.append(total)
    return out
