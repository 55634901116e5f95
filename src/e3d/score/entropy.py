"""HomoEntr and STEntr scores with the authors' exact semantics (TinyNAS `compute_stentr.py` and the 3D blocks'
`get_stentr_forward`), which the paper's printed equations alone do not reproduce:

- natural log, and every term carries a factor 1/2 (term = ln sqrt(product));
- plain conv (stem, final 1x1x1 conv): 1/2 ln(C_in * Kt * k^2 * alpha);
- one inverted-bottleneck layer contributes ONE term, 1/2 [ln C_in + ln(Kt k^2 alpha) + ln C_btn]; inside a super
  block layer 0 has C_in = the block's input width, layers 1..L-1 the block's output width;
- alpha = -ln(1 - cos(S, K)) with S = [T, R, R] the feature map and K = [Kt, k, k] the kernel; alpha = 1 whenever the
  spatial kernel k == 1; R is the *output* size of the top-level block (the running size is divided by the block's
  stride and truncated to an integer, `int(R / s)`, before the block is scored), shared by all its inner layers;
  T is the clip length (no temporal stride);
- total = sum of all terms + ln(C_out of the final conv).
HomoEntr is the same with alpha = 1 everywhere. E3D-S at 160 px / 13 frames scores 202.8559 (paper Table 12).

Numerical safety (our decision, the authors' code has no guard): when S is parallel to K, cos = 1 and the authors'
alpha is +inf (or NaN/garbage from rounding), which would make that candidate win any search. We call the score
*undefined* there: `score_spec` returns `valid=False` with the offending layer named (`on_parallel="invalid"`, the
default; the search rejects such candidates like over-budget ones). `on_parallel="clamp"` instead floors 1 - cos at
PARALLEL_EPS (alpha = -ln(1e-9) ~ 20.7), for users who want a finite number anyway. "Parallel" means
1 - cos < PARALLEL_EPS, which also catches vectors that are parallel up to floating-point error.

The authors' M and L searches never passed their image size to the scorer, so alpha was computed at 160 px while FLOPs
used 224/312; `alpha_resolution=160` reproduces that quirk explicitly (default: the scored resolution).

SE blocks, activations and the head do not enter the score (the authors' blocks have none of these in the formula).
An X3D-style temporal depthwise stem conv (Kt x 1 x 1, depthwise so C^{l-1} = 1, spatial k = 1 so alpha = 1)
contributes 1/2 ln(Kt).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from e3d.arch.spec import ArchSpec
from e3d.errors import E3DError

SCORES = ("stentr", "homoentr")
PARALLEL_EPS = 1e-9
ON_PARALLEL = ("invalid", "clamp")


class ParallelKernelError(E3DError, ValueError):
    """STEntr is undefined: a kernel is parallel to its feature map (alpha = inf in the authors' code)."""


def refinement_alpha(frames: int, size: float, kt: int, k: int, on_parallel: str = "invalid") -> float:
    """alpha = -ln(1 - cos([T, R, R], [Kt, k, k])); 1 when the spatial kernel is 1.

    Returns math.inf for a parallel pair under on_parallel="invalid" (callers turn that into an invalid score)."""
    if k == 1:
        return 1.0
    dot = frames * kt + 2.0 * size * k
    norm = math.sqrt(frames * frames + 2.0 * size * size) * math.sqrt(kt * kt + 2.0 * k * k)
    gap = 1.0 - dot / norm
    if gap < PARALLEL_EPS:
        if on_parallel == "clamp":
            gap = PARALLEL_EPS
        else:
            return math.inf
    return -math.log(gap)


@dataclass(frozen=True)
class LayerTerm:
    """One additive term of the score, for --per-layer output."""

    name: str
    c_in: int  # C^{l-1}: input width (1 for a depthwise conv)
    kernel: tuple[int, int, int]
    c_btn: int  # bottleneck width for an inverted-bottleneck layer; 0 for a plain conv
    feature: tuple[int, int, int]  # S = [T, R, R] used for alpha
    alpha: float
    term: float


@dataclass
class ScoreResult:
    kind: str
    score: float | None  # None when invalid
    valid: bool
    reason: str
    resolution: int
    frames: int
    alpha_resolution: int
    layers: list[LayerTerm] = field(default_factory=list)

    def to_dict(self, per_layer: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {
            "score_kind": self.kind,
            "score": self.score,
            "valid": self.valid,
            "alpha_resolution": self.alpha_resolution,
        }
        if not self.valid:
            d["invalid_reason"] = self.reason
        if per_layer:
            d["per_layer"] = [
                {**asdict(t), "alpha": (None if math.isinf(t.alpha) else t.alpha),
                 "term": (None if math.isinf(t.term) else t.term)}
                for t in self.layers
            ]
        return d


def _check_kind(kind: str) -> str:
    if kind not in SCORES:
        raise E3DError(f"unknown score {kind!r}; expected one of {', '.join(SCORES)}")
    return kind


def score_spec(
    spec: ArchSpec,
    kind: str = "stentr",
    resolution: int | None = None,
    frames: int | None = None,
    alpha_resolution: int | None = None,
    on_parallel: str = "invalid",
) -> ScoreResult:
    """Score `spec` at (resolution, frames) (defaults: the spec's own). See the module docstring for the semantics."""
    _check_kind(kind)
    if on_parallel not in ON_PARALLEL:
        raise E3DError(f"on_parallel must be one of {', '.join(ON_PARALLEL)}, got {on_parallel!r}")
    res = spec.resolution if resolution is None else int(resolution)
    t = spec.frames if frames is None else int(frames)
    ares = res if alpha_resolution is None else int(alpha_resolution)
    if res < 1 or t < 1 or ares < 1:
        raise E3DError(f"resolution, frames and alpha resolution must be positive, got {res}, {t}, {ares}")
    homo = kind == "homoentr"

    terms: list[LayerTerm] = []

    def alpha_of(size: int, kernel: tuple[int, int, int]) -> float:
        return 1.0 if homo else refinement_alpha(t, size, kernel[0], kernel[1], on_parallel)

    def add(name: str, c_in: int, kernel, c_btn: int, size: int) -> None:
        a = alpha_of(size, kernel)
        prod = c_in * kernel[0] * kernel[1] * kernel[2]
        term = 0.5 * (math.log(prod) + math.log(a) + (math.log(c_btn) if c_btn else 0.0))
        terms.append(LayerTerm(name, c_in, tuple(kernel), c_btn, (t, size, size), a, term))

    size = int(ares / spec.stem.stride)  # the authors' running size: int(R / s), cumulative
    add("stem", spec.in_channels, spec.stem.kernel, 0, size)
    if spec.stem.temporal_dw:
        add("stem.temporal_dw", 1, (spec.stem.temporal_dw, 1, 1), 0, size)
    c_in = spec.stem.out
    for bi, block in enumerate(spec.blocks):
        size = int(size / block.stride)
        for li in range(block.layers):
            btn, kernel = block.layer_btn_kernel(li)
            add(f"blocks[{bi}].layer[{li}]", c_in if li == 0 else block.out, kernel, btn, size)
        c_in = block.out
    size = int(size / spec.final.stride)
    add("final", c_in, spec.final.kernel, 0, size)

    bad = [x for x in terms if math.isinf(x.alpha)]
    if bad:
        reason = (f"{bad[0].name}: kernel {list(bad[0].kernel)} is parallel to feature map {list(bad[0].feature)}, "
                  "so alpha = -ln(1 - cos) is infinite (the score is undefined)")
        return ScoreResult(kind, None, False, reason, res, t, ares, terms)
    total = math.fsum(x.term for x in terms) + math.log(spec.final.out)
    return ScoreResult(kind, total, True, "", res, t, ares, terms)


def block_score(kind: str, frames: int, size: int, c_in: int, out: int, btn: int, kt: int, k: int, layers: int,
                on_parallel: str = "invalid") -> float:
    """Closed form of one uniform super block's terms (what score_spec sums layer by layer); inf if undefined.

    The search's incremental evaluator calls this; tests/test_search_fast.py checks it equals score_spec."""
    a = 1.0 if kind == "homoentr" else refinement_alpha(frames, size, kt, k, on_parallel)
    if math.isinf(a):
        return math.inf
    return 0.5 * (math.log(c_in) + (layers - 1) * math.log(out) + layers * (math.log(kt * k * k * a) + math.log(btn)))


def conv_score(kind: str, frames: int, size: int, c_in: int, kernel: tuple[int, int, int],
               on_parallel: str = "invalid") -> float:
    """One plain conv's term, 1/2 ln(C_in Kt k^2 alpha); inf if undefined."""
    a = 1.0 if kind == "homoentr" else refinement_alpha(frames, size, kernel[0], kernel[1], on_parallel)
    if math.isinf(a):
        return math.inf
    return 0.5 * math.log(c_in * kernel[0] * kernel[1] * kernel[2] * a)
