"""Analytic cost of a spec: FLOPs, parameters, layer count and peak activation memory, without building a network.

FLOPs convention (CONVENTION, named in every artifact): conv+linear multiply-accumulates of one clip, batch 1,
1 fused multiply-add = 1 flop. That is what fvcore's FlopCountAnalysis counts for the model in eval mode with its
batch-norm handle switched off: every Conv3d (stem, depthwise, expand/project, SE convs, residual projections) and
every Linear; no BatchNorm, activations, pooling, SE gating or residual adds. It is the paper's convention
(E3D-S/M/L 1.9/4.7/18.3 G, X3D-S/M/L 1.96/4.73/18.37 G). tests/test_arch_cost_fvcore.py checks it against
fvcore on random specs.

Spatial size after a conv with kernel k, stride s and padding k // 2 (what e3d.models builds) is
floor((R + 2*(k//2) - k) / s) + 1, i.e. ceil(R / s) for odd kernels (the spec only admits odd kernels); with no
temporal stride anywhere the clip length T never changes. Residual poolings are built to give the same ceil(R / s).

Parameter counts are those of torch's named_parameters (= fvcore parameter_count): conv weights (convs carry no
bias, except the SE convs and the head's hidden layer where the spec says so), BatchNorm weight and bias (running
statistics are buffers), the SE convs' biases and the classifier's bias.

Everything is plain integer arithmetic, O(number of super blocks): inside a super block, layers 1..L-1 see the same
widths and sizes, so they are counted once and multiplied (blocks with per-layer overrides are walked layer by
layer). The evolutionary search calls `conv_macs` for every candidate.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from e3d.arch.spec import ArchSpec, BlockSpec

CONVENTION = "conv+linear MACs (fvcore, eval mode, batch-norm handle off; 1 multiply-add = 1 flop), one clip, batch 1"
ACTIVATION_CONVENTION = (
    "fp32 bytes, batch 1, inference without autograd: max over convs of (its input + its output + the block "
    "input held for a pending residual add)"
)
DEFAULT_NUM_CLASSES = 400  # Kinetics-400: the class count the published parameter counts use


@dataclass(frozen=True)
class Cost:
    macs: int
    gflops: float  # macs * 1e-9 (the paper's "GFLOPs")
    params: int
    layers: int  # spec.layer_count(): the authors' layer budget
    peak_activation_bytes: int
    resolution: int
    frames: int
    num_classes: int
    convention: str = CONVENTION
    activation_convention: str = ACTIVATION_CONVENTION

    def to_dict(self) -> dict:
        return {
            "macs": self.macs,
            "gflops": self.gflops,
            "params": self.params,
            "layers": self.layers,
            "peak_activation_bytes": self.peak_activation_bytes,
            "resolution": self.resolution,
            "frames": self.frames,
            "num_classes": self.num_classes,
            "convention": self.convention,
            "activation_convention": self.activation_convention,
        }


def out_size(size: int, kernel: int, stride: int) -> int:
    """Output length of a conv with padding kernel // 2 (the builder's padding) along one axis."""
    return (size + 2 * (kernel // 2) - kernel) // stride + 1


def _check_input(spec: ArchSpec, resolution: int | None, frames: int | None) -> tuple[int, int]:
    r = spec.resolution if resolution is None else resolution
    t = spec.frames if frames is None else frames
    if isinstance(r, bool) or not isinstance(r, int) or r < 1:
        raise ValueError(f"resolution must be a positive integer, got {r!r}")
    if isinstance(t, bool) or not isinstance(t, int) or t < 1:
        raise ValueError(f"frames must be a positive integer, got {t!r}")
    return r, t


def has_residual(b: BlockSpec, c: int, stride: int) -> bool:
    """Whether a layer c -> b.out with this stride adds a residual (the builder's rule)."""
    if b.residual == "e3d":
        return c == b.out  # identity, or AvgPool(1,s,s) when strided; none when the widths differ
    return True  # projection / pool_projection: identity or a projection, always a residual


def needs_projection(b: BlockSpec, c: int, stride: int) -> bool:
    return b.residual != "e3d" and (c != b.out or stride != 1)


def projection_has_bn(b: BlockSpec, c: int) -> bool:
    # pytorchvideo's X3D puts no BN on a projection that only strides (24 -> 24 in its first stage)
    return b.residual == "pool_projection" or c != b.out


def _layer(b: BlockSpec, c: int, t: int, r: int, btn: int, kernel: tuple[int, int, int], stride: int,
           se: bool) -> tuple[int, int, int, int]:
    """One inverted bottleneck c -> b.out: (macs, params, peak activation elements, R out). T never changes
    (odd temporal kernels, padding kt // 2, no temporal stride)."""
    _, k, _ = kernel
    out = b.out
    r1 = out_size(r, k, stride)
    a_in, a_out = t * r * r, t * r1 * r1
    dw = btn * kernel[0] * k * k
    macs = c * btn * a_in + dw * a_out + btn * out * a_out
    params = c * btn + dw + btn * out + 4 * btn + 2 * out + (1 if b.rezero else 0)
    if se:
        s = b.se_channels(btn)
        macs += 2 * btn * s
        params += 2 * btn * s + s + btn
    proj = needs_projection(b, c, stride)
    if proj:
        macs += c * out * a_out
        params += c * out + (2 * out if projection_has_bn(b, c) else 0)
    # the block input stays alive until the residual add whenever there is one
    held = c * a_in if has_residual(b, c, stride) else 0
    peak = max(
        c * a_in + btn * a_in,  # expand (its input is the held residual itself)
        btn * a_in + btn * a_out + held,  # depthwise
        btn * a_out + out * a_out + held,  # project
        2 * out * a_out + held if proj else 0,  # the projection's output beside the main branch's
    )
    return macs, params, peak, r1


@lru_cache(maxsize=1 << 16)  # a search mutates two blocks per step: the other blocks hit the cache
def _block(b: BlockSpec, c: int, t: int, r: int) -> tuple[int, int, int, int]:
    """A super block: (macs, params, peak activation elements, R out)."""
    if b.per_layer:
        macs = params = peak = 0
        for i in range(b.layers):
            btn, kernel = b.layer_btn_kernel(i)
            m, p, a, r = _layer(b, c, t, r, btn, kernel, b.stride if i == 0 else 1, b.layer_has_se(i))
            macs, params, peak, c = macs + m, params + p, max(peak, a), b.out
        return macs, params, peak, r
    macs, params, peak, r = _layer(b, c, t, r, b.btn, b.kernel, b.stride, b.layer_has_se(0))
    rest = b.layers - 1
    # layers 1..L-1 see identical shapes; they differ only in whether they carry SE
    with_se = 0
    if b.se_ratio > 0 and b.se_pattern != "none":
        with_se = rest if b.se_pattern == "all" else rest // 2  # alternate: layers 2, 4, ...
    for se, n in ((True, with_se), (False, rest - with_se)):
        if n:
            m, p, a, _ = _layer(b, b.out, t, r, b.btn, b.kernel, 1, se)
            macs, params, peak = macs + n * m, params + n * p, max(peak, a)
    return macs, params, peak, r


def _walk(spec: ArchSpec, r: int, t: int, num_classes: int) -> tuple[int, int, int]:
    """(macs, params, peak activation elements) of one clip."""
    stem = spec.stem
    kt, k, _ = stem.kernel
    cin, c = spec.in_channels, stem.out
    t1, r1 = out_size(t, kt, 1), out_size(r, k, stem.stride)
    macs = cin * c * kt * k * k * t1 * r1 * r1
    params = cin * c * kt * k * k + 2 * c
    peak = cin * t * r * r + c * t1 * r1 * r1
    t, r = t1, r1
    if stem.temporal_dw:
        t1 = out_size(t, stem.temporal_dw, 1)
        macs += c * stem.temporal_dw * t1 * r * r
        params += c * stem.temporal_dw
        peak = max(peak, c * t * r * r + c * t1 * r * r)
        t = t1
    for b in spec.blocks:
        m, p, a, r = _block(b, c, t, r)
        macs, params, peak, c = macs + m, params + p, max(peak, a), b.out
    f = spec.final
    kt, k, _ = f.kernel
    t1, r1 = out_size(t, kt, 1), out_size(r, k, f.stride)
    macs += c * f.out * kt * k * k * t1 * r1 * r1
    params += c * f.out * kt * k * k + 2 * f.out
    peak = max(peak, c * t * r * r + f.out * t1 * r1 * r1)
    h = spec.head
    macs += f.out * h.hidden + h.hidden * num_classes
    params += f.out * h.hidden + (h.hidden if h.hidden_bias else 0) + h.hidden * num_classes + num_classes
    return macs, params, peak


def conv_macs(spec: ArchSpec, resolution: int | None = None, frames: int | None = None,
              num_classes: int = DEFAULT_NUM_CLASSES) -> int:
    """Conv+linear MACs of one clip (CONVENTION); the call the search makes per candidate.

    Same arithmetic as `cost`, inlined for the plain E3D block (no SE, no per-layer overrides, e3d residual,
    odd temporal kernel) because the search evaluates hundreds of thousands of candidates."""
    r = spec.resolution if resolution is None else resolution
    t = spec.frames if frames is None else frames
    if not (type(r) is int and type(t) is int and r > 0 and t > 0):
        r, t = _check_input(spec, resolution, frames)
    stem = spec.stem
    kt, k, _ = stem.kernel
    c = stem.out
    t = t + 2 * (kt // 2) - kt + 1
    r = (r + 2 * (k // 2) - k) // stem.stride + 1
    macs = spec.in_channels * c * kt * k * k * t * r * r
    if stem.temporal_dw:
        kt = stem.temporal_dw
        t = t + 2 * (kt // 2) - kt + 1
        macs += c * kt * t * r * r
    for b in spec.blocks:
        kt, k, _ = b.kernel
        if b.per_layer or b.se_ratio > 0 or b.residual != "e3d":
            m, _, _, r = _block(b, c, t, r)
            macs += m
            c = b.out
            continue
        btn, out = b.btn, b.out
        a_in = t * r * r
        r = (r + 2 * (k // 2) - k) // b.stride + 1
        a = t * r * r
        dw = kt * k * k
        macs += btn * (c * a_in + (dw + out) * a + (b.layers - 1) * (out + dw + out) * a)
        c = out
    f = spec.final
    kt, k, _ = f.kernel
    t = t + 2 * (kt // 2) - kt + 1
    r = (r + 2 * (k // 2) - k) // f.stride + 1
    h = spec.head.hidden
    return macs + c * f.out * kt * k * k * t * r * r + f.out * h + h * num_classes


def cost(spec: ArchSpec, resolution: int | None = None, frames: int | None = None,
         num_classes: int = DEFAULT_NUM_CLASSES) -> Cost:
    """Full analytic cost of one clip at (resolution, frames); defaults are the spec's own input size."""
    r, t = _check_input(spec, resolution, frames)
    macs, params, peak = _walk(spec, r, t, num_classes)
    return Cost(
        macs=macs,
        gflops=macs * 1e-9,
        params=params,
        layers=spec.layer_count(),
        peak_activation_bytes=4 * peak,
        resolution=r,
        frames=t,
        num_classes=num_classes,
    )
