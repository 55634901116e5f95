"""X3D-S/M/L and MoViNet-A0/A1/A2 (base) as specs, so the cost model and the builder read one value.

X3D follows pytorchvideo 0.1.5 `create_x3d` (verified to give the same parameter count): stem 1x3x3/2 conv 3->24
+ depthwise 5x1x1 + BN + ReLU; stages of widths 24/48/96/192 with inner width int(2.25 * w), depthwise 3x3x3, stride
2 at each stage's first block, SE (round_width(inner / 16), ReLU inside) on blocks 1, 3, 5, ... before the Swish that
follows the depthwise conv; a strided 1x1x1 projection (BN only when widths change); ReLU after the residual add;
head 1x1x1 conv 192->432 + BN + ReLU, pool, 432->2048 (no bias) + ReLU, dropout 0.5, Linear(classes).
Depths [3, 5, 11, 7] for S/M, [5, 10, 25, 15] for L.

MoViNet follows TF-Models official/projects/movinet BLOCK_SPECS (base, non-causal, 3D convs, se_type 3d): swish
everywhere, SE on every layer (make_divisible(expand / 4, 8), swish inside, after the depthwise activation),
no activation after the residual add, a learned re-zero scalar on each residual branch, skip = AvgPool(1,3,3)/2
(when strided) + 1x1x1 conv + BN whenever shapes change; head 1x1x1 conv to project_filters + BN + swish, pool,
dense head_filters (bias) + swish, dropout, classifier.
"""

from __future__ import annotations

import dataclasses
import math

from e3d.arch.spec import ArchSpec, BlockSpec, ConvSpec, HeadSpec, LayerOverride, SpecError

X3D_WIDTHS = (24, 48, 96, 192)
X3D_DEPTHS = {"s": (3, 5, 11, 7), "m": (3, 5, 11, 7), "l": (5, 10, 25, 15)}
X3D_INPUT = {"s": (160, 13), "m": (224, 16), "l": (312, 16)}  # (training crop, frames)


def x3d(size: str) -> ArchSpec:
    size = size.lower()
    resolution, frames = X3D_INPUT[size]
    blocks = tuple(
        BlockSpec(out=w, btn=int(2.25 * w), kernel=(3, 3, 3), stride=2, layers=d, act="relu", dw_act="swish",
                  se_ratio=1 / 16, se_pattern="alternate", se_divisor=8, se_act="relu", residual="projection",
                  post_act="relu")
        for w, d in zip(X3D_WIDTHS, X3D_DEPTHS[size])
    )
    return ArchSpec(
        name=f"x3d-{size}",
        stem=ConvSpec(out=24, kernel=(1, 3, 3), stride=2, act="relu", temporal_dw=5),
        blocks=blocks,
        final=ConvSpec(out=int(2.25 * X3D_WIDTHS[-1]), kernel=(1, 1, 1), stride=1, act="relu"),
        head=HeadSpec(hidden=2048, act="relu", dropout=0.5, hidden_bias=False),
        resolution=resolution,
        frames=frames,
        family="x3d",
    )


K13, K15, K33, K53 = (1, 3, 3), (1, 5, 5), (3, 3, 3), (5, 3, 3)

# (stem filters, [(base_filters, expand_filters, kernels, first stride)], project_filters, head_filters)
MOVINET = {
    "a0": (8, [(8, (24,), (K15,), 2),
               (32, (80, 80, 80), (K33, K33, K33), 2),
               (56, (184, 112, 184), (K53, K33, K33), 2),
               (56, (184, 184, 184, 184), (K53, K33, K33, K33), 1),
               (104, (384, 280, 280, 344), (K53, K15, K15, K15), 2)], 480, 2048),
    "a1": (16, [(16, (40, 40), (K15, K33), 2),
                (40, (96, 120, 96, 96), (K33, K33, K33, K33), 2),
                (64, (216, 128, 216, 168, 216), (K53, K33, K33, K33, K33), 2),
                (64, (216, 216, 216, 128, 128, 216), (K53, K33, K33, K33, K15, K33), 1),
                (136, (456, 360, 360, 360, 456, 456, 544), (K53, K15, K15, K15, K15, K33, K13), 2)], 600, 2048),
    "a2": (16, [(16, (40, 40, 64), (K15, K33, K33), 2),
                (40, (96, 120, 96, 96, 120), (K33, K33, K33, K33, K33), 2),
                (72, (240, 160, 240, 192, 240), (K53, K33, K33, K33, K33), 2),
                (72, (240, 240, 240, 240, 144, 240), (K53, K33, K33, K33, K15, K33), 1),
                (144, (480, 384, 384, 480, 480, 480, 576), (K53, K15, K15, K15, K15, K33, K13), 2)], 640, 2048),
}
MOVINET_INPUT = {"a0": (172, 50), "a1": (172, 50), "a2": (224, 50)}


def movinet(model_id: str) -> ArchSpec:
    model_id = model_id.lower()
    stem, rows, project, head = MOVINET[model_id]
    resolution, frames = MOVINET_INPUT[model_id]
    blocks = tuple(
        BlockSpec(out=out, btn=max(expand), kernel=kernels[0], stride=stride, layers=len(expand), act="swish",
                  se_ratio=0.25, se_pattern="all", se_divisor=8, se_act="swish", se_after_act=True,
                  residual="pool_projection", post_act="none", rezero=True,
                  per_layer=tuple(LayerOverride(btn=e, kernel=k) for e, k in zip(expand, kernels)))
        for out, expand, kernels, stride in rows
    )
    return ArchSpec(
        name=f"movinet-{model_id}",
        stem=ConvSpec(out=stem, kernel=K13, stride=2, act="swish"),
        blocks=blocks,
        final=ConvSpec(out=project, kernel=(1, 1, 1), stride=1, act="swish"),
        head=HeadSpec(hidden=head, act="swish", dropout=0.5, hidden_bias=True),
        resolution=resolution,
        frames=frames,
        family="movinet",
    )


# Published figures (GFLOPs at the model's own input, params, the class count those params assume).
# X3D: Kinetics-400 (pytorchvideo's create_x3d gives 3.79M / 6.15M params for these specs, the figures our builder
# matches exactly; the papers print 3.76M / 6.09M). MoViNet: Kinetics-600. MoViNet-A2's published 10.3 G / 4.8M
# are not reproduced by the official BLOCK_SPECS['a2'] at 50x224^2 (11.56 G, 5.25M with 600 classes).
PUBLISHED = {
    "x3d-s": (1.96, 3.76e6, 400),
    "x3d-m": (4.73, 3.76e6, 400),
    "x3d-l": (18.37, 6.09e6, 400),
    "movinet-a0": (2.7, 3.1e6, 600),
    "movinet-a1": (6.0, 4.6e6, 600),
    "movinet-a2": (10.3, 4.8e6, 600),
}


# X3D's expansion (Feichtenhofer, CVPR 2020, Sec. 3 and pytorchvideo's create_x3d): the X2D base has stage depths
# 1, 2, 5, 3 and stage widths 2**i times the stem's (the first stage as wide as the stem); X3D-S multiplies the depths by gamma_d = 2.2 (rounded up) and
# the widths by gamma_w = 2 (stem 12 -> 24, rounded to multiples of 8 as round_width does). A smaller budget at a
# fixed input contracts the same two axes: `x3d_scaled` lowers gamma_w ("width"), gamma_d ("depth") or both by one
# common factor ("both") until the clip's FLOPs fit.
X2D_DEPTHS = (1, 2, 5, 3)
X3D_S_GAMMA = {"width": 2.0, "depth": 2.2}
X3D_EXPANSIONS = ("width", "depth", "both")


def round_width(width: float, multiplier: float, divisor: int = 8) -> int:
    """pytorchvideo's round_width: width x multiplier to a multiple of `divisor`, never below 90% of it."""
    width *= multiplier
    out = max(divisor, int(width + divisor / 2) // divisor * divisor)
    if out < 0.9 * width:
        out += divisor
    return int(out)


def x3d_expanded(gamma_w: float, gamma_d: float, resolution: int, frames: int, name: str = "x3d") -> ArchSpec:
    """X3D-S's structure with its width and depth expansion factors replaced (gamma_w = 2, gamma_d = 2.2 give X3D-S
    itself), at the given input; inner widths stay 2.25 x the stage width (gamma_b), the head's 2048 stays."""
    stem = round_width(12, gamma_w)
    widths = [round_width(12 * 2 ** i, gamma_w) for i in range(len(X2D_DEPTHS))]
    depths = [max(1, math.ceil(d * gamma_d - 1e-9)) for d in X2D_DEPTHS]
    base = x3d("s")
    blocks = tuple(dataclasses.replace(b, out=w, btn=int(2.25 * w), layers=d)
                   for b, w, d in zip(base.blocks, widths, depths))
    return dataclasses.replace(base, name=name, stem=dataclasses.replace(base.stem, out=stem), blocks=blocks,
                               final=dataclasses.replace(base.final, out=int(2.25 * widths[-1])),
                               resolution=resolution, frames=frames)


def x3d_scaled(budget_gflops: float, resolution: int, frames: int, expand: str = "depth",
               name: str = "x3d-scaled", num_classes: int | None = None) -> tuple[ArchSpec, dict[str, float]]:
    """The largest X3D (X3D-S contracted along `expand`: width, depth or both) whose clip at resolution x frames
    costs at most `budget_gflops`; returns the spec and its expansion factors (gamma_w, gamma_d, scale).

    The factor is found by bisection on a continuous scale s in (0, 1] (gamma_w = 2 s and/or gamma_d = 2.2 s);
    rounding makes FLOPs a step function of s, so the bisection keeps the largest s that fits."""
    from e3d.arch.cost import DEFAULT_NUM_CLASSES, cost

    if expand not in X3D_EXPANSIONS:
        raise SpecError(f"x3d_scaled: expand must be one of {X3D_EXPANSIONS}, got {expand!r}")
    classes = DEFAULT_NUM_CLASSES if num_classes is None else num_classes

    def build(s: float) -> ArchSpec:
        gw = X3D_S_GAMMA["width"] * (s if expand in ("width", "both") else 1.0)
        gd = X3D_S_GAMMA["depth"] * (s if expand in ("depth", "both") else 1.0)
        return x3d_expanded(gw, gd, resolution, frames, name=name)

    def gflops(s: float) -> float:
        return cost(build(s), resolution, frames, num_classes=classes).gflops

    if gflops(1.0) <= budget_gflops:
        raise SpecError(f"x3d_scaled: X3D-S itself costs {gflops(1.0):.4f} GFLOPs at {frames}x{resolution}^2, within "
                         f"the budget {budget_gflops}: no contraction needed (train builtin:x3d-s instead)")
    lo, hi = 1e-3, 1.0
    if gflops(lo) > budget_gflops:
        raise SpecError(f"x3d_scaled: even the smallest X3D ({expand} contracted) costs {gflops(lo):.4f} GFLOPs at "
                         f"{frames}x{resolution}^2, above the budget {budget_gflops}")
    for _ in range(60):
        mid = (lo + hi) / 2
        if gflops(mid) <= budget_gflops:
            lo = mid
        else:
            hi = mid
    spec = build(lo)
    gw = X3D_S_GAMMA["width"] * (lo if expand in ("width", "both") else 1.0)
    gd = X3D_S_GAMMA["depth"] * (lo if expand in ("depth", "both") else 1.0)
    return spec, {"gamma_w": gw, "gamma_d": gd, "scale": lo, "gflops": gflops(lo)}
