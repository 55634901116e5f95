"""The architecture spec: one typed, JSON-serialisable value read by the scorer, the cost model,
the PyTorch builder, the search and the tables.

A network is: input (resolution, frames) -> stem conv -> super blocks of 3D inverted bottlenecks
-> final 1x1x1 conv -> head (global pool -> hidden -> dropout -> classes).

Strides are spatial only (no temporal stride anywhere in the E3D, X3D or MoViNet-base spaces),
so the clip length T never changes through the network.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from e3d.errors import E3DError

SPEC_SCHEMA_VERSION = 1

Kernel = tuple[int, int, int]  # (kt, kh, kw), kh == kw in every space we support

ACTIVATIONS = ("relu", "swish", "hswish", "none")
# e3d: identity / AvgPool(1,2,2) / none (the authors'); projection: X3D's strided 1x1x1 conv (+BN when widths
# differ) whenever shapes differ; pool_projection: MoViNet's AvgPool(1,3,3)/2 (when strided) + 1x1x1 conv + BN.
RESIDUALS = ("e3d", "projection", "pool_projection")
SE_PATTERNS = ("none", "alternate", "all")
FAMILIES = ("e3d", "x3d", "movinet")


class SpecError(E3DError, ValueError):
    """A spec that cannot describe a network; the message names the offending field."""


def _kernel(value: Any, where: str) -> Kernel:
    if isinstance(value, str):
        try:
            value = tuple(int(v) for v in value.lower().split("x"))
        except ValueError as exc:
            raise SpecError(f"{where}: kernel {value!r} is not of the form KtxKxK") from exc
    if not isinstance(value, (list, tuple)) or len(value) != 3:
        raise SpecError(f"{where}: kernel must be three integers [kt, k, k], got {value!r}")
    kt, kh, kw = (int(v) for v in value)
    if min(kt, kh, kw) < 1:
        raise SpecError(f"{where}: kernel sizes must be >= 1, got {value!r}")
    if not (kt % 2 and kh % 2):
        # 'same' padding k // 2 keeps T and ceil(R / s) only for odd kernels; every supported space is odd
        raise SpecError(f"{where}: kernel sizes must be odd, got {value!r}")
    if kh != kw:
        raise SpecError(f"{where}: spatial kernel must be square, got {kh}x{kw}")
    return (kt, kh, kw)


def make_divisible(value: float, divisor: int) -> int:
    """Round `value` to a multiple of `divisor` the way X3D and MoViNet size their SE and channel widths."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def kernel_str(kernel: Kernel) -> str:
    return "x".join(str(k) for k in kernel)


def _positive(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SpecError(f"{where}: expected a positive integer, got {value!r}")
    return value


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise SpecError(f"{where}: expected true or false, got {value!r}")
    return value


def _choice(value: Any, choices: tuple[str, ...], where: str) -> str:
    if value not in choices:
        raise SpecError(f"{where}: expected one of {', '.join(choices)}, got {value!r}")
    return value


@dataclass(frozen=True)
class ConvSpec:
    """A plain conv + BN + activation (the stem and the final 1x1x1 conv)."""

    out: int
    kernel: Kernel = (1, 1, 1)
    stride: int = 1
    act: str = "relu"
    # X3D's stem follows its 1x3x3 conv by a depthwise temporal conv (kt x 1 x 1); 0 = none.
    temporal_dw: int = 0


@dataclass(frozen=True)
class LayerOverride:
    """Per-layer width/kernel inside a super block (MoViNet varies them layer by layer)."""

    btn: int
    kernel: Kernel


@dataclass(frozen=True)
class BlockSpec:
    """A super block: `layers` inverted bottlenecks (1x1x1 expand -> depthwise kernel -> 1x1x1
    project); the first layer carries the spatial stride and the width change."""

    out: int
    btn: int
    kernel: Kernel
    stride: int
    layers: int
    act: str = "relu"  # activation after the expand and depthwise convs
    se_ratio: float = 0.0  # squeeze-excitation bottleneck ratio relative to btn; 0 = none
    se_pattern: str = "none"  # which layers carry SE: none, alternate (1st, 3rd, ...), all
    residual: str = "e3d"  # e3d: identity/avgpool/none (authors); projection: 1x1x1 conv when shapes differ
    per_layer: tuple[LayerOverride, ...] = ()  # empty = every layer uses (btn, kernel)
    # SE width = make_divisible(btn * se_ratio, se_divisor), the rounding X3D (pytorchvideo round_width) and
    # MoViNet (TF make_divisible) share: nearest multiple of the divisor, at least the divisor, and bumped up
    # one step if rounding lost more than 10%.
    se_divisor: int = 8
    dw_act: str = ""  # activation after the depthwise conv; "" = same as `act` (X3D: relu, then swish here)
    post_act: str = "relu"  # activation after the residual add (E3D, X3D: relu; MoViNet: none)
    se_act: str = "relu"  # activation inside SE (X3D: relu; MoViNet: swish)
    se_after_act: bool = False  # SE after the depthwise activation (MoViNet) instead of before it (X3D)
    rezero: bool = False  # MoViNet: a learned scalar (initialised 0) scales the residual branch

    def layer_btn_kernel(self, i: int) -> tuple[int, Kernel]:
        if self.per_layer:
            o = self.per_layer[i]
            return o.btn, o.kernel

        return self.btn, self.kernel

    @property
    def depthwise_act(self) -> str:
        return self.dw_act or self.act

    def se_channels(self, btn: int) -> int:
        return make_divisible(btn * self.se_ratio, self.se_divisor)

    def layer_has_se(self, i: int) -> bool:
        if self.se_ratio <= 0 or self.se_pattern == "none":
            return False
        return self.se_pattern == "all" or i % 2 == 0


@dataclass(frozen=True)
class HeadSpec:
    """Global average pool -> hidden (Linear or 1x1x1 conv) -> act -> dropout -> Linear(classes)."""

    hidden: int = 2048
    act: str = "swish"
    dropout: float = 0.5
    hidden_bias: bool = True


@dataclass(frozen=True)
class ArchSpec:
    name: str
    stem: ConvSpec
    blocks: tuple[BlockSpec, ...]
    final: ConvSpec
    head: HeadSpec = field(default_factory=HeadSpec)
    resolution: int = 160  # the model's own training crop
    frames: int = 13  # the model's own clip length
    in_channels: int = 3
    family: str = "e3d"

    # ---- derived quantities shared by every reader of the spec ----
    def layer_count(self) -> int:
        """The authors' layer budget: 3 per inverted-bottleneck layer, 1 per plain conv."""
        return 2 + sum(3 * b.layers for b in self.blocks)

    def with_head_dropout(self, dropout: float | None) -> "ArchSpec":
        """The spec with the head's dropout rate replaced (None keeps it)."""
        if dropout is None:
            return self
        if not 0 <= dropout < 1:
            raise SpecError(f"{self.name}: head dropout must be in [0, 1), got {dropout!r}")
        return dataclasses.replace(self, head=dataclasses.replace(self.head, dropout=float(dropout)))

    def with_input(self, resolution: int | None = None, frames: int | None = None) -> "ArchSpec":
        return dataclasses.replace(
            self,
            resolution=self.resolution if resolution is None else resolution,
            frames=self.frames if frames is None else frames,
        )

    # ---- serialisation ----
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["schema_version"] = SPEC_SCHEMA_VERSION
        d["stem"]["kernel"] = list(self.stem.kernel)
        d["final"]["kernel"] = list(self.final.kernel)
        for bd, b in zip(d["blocks"], self.blocks):
            bd["kernel"] = list(b.kernel)
            bd["per_layer"] = [{"btn": o.btn, "kernel": list(o.kernel)} for o in b.per_layer]
        return d

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)

    @classmethod
    def from_dict(cls, d: Any) -> "ArchSpec":
        return spec_from_dict(d)

    @classmethod
    def from_json(cls, text: str) -> "ArchSpec":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpecError(f"not valid JSON: {exc}") from exc
        return spec_from_dict(data)


def _temporal_dw(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or (value and not value % 2):
        raise SpecError(f"{where}: expected 0 (none) or an odd temporal kernel size, got {value!r}")
    return value


def _conv_from_dict(d: Any, where: str) -> ConvSpec:
    if not isinstance(d, dict):
        raise SpecError(f"{where}: expected an object, got {type(d).__name__}")
    _reject_unknown(d, ConvSpec, where)
    return ConvSpec(
        out=_positive(d.get("out"), f"{where}.out"),
        kernel=_kernel(d.get("kernel", (1, 1, 1)), f"{where}.kernel"),
        stride=_positive(d.get("stride", 1), f"{where}.stride"),
        act=_choice(d.get("act", "relu"), ACTIVATIONS, f"{where}.act"),
        temporal_dw=_temporal_dw(d.get("temporal_dw", 0), f"{where}.temporal_dw"),
    )


def _reject_unknown(d: dict, klass: type, where: str, extra: tuple[str, ...] = ()) -> None:
    known = {f.name for f in dataclasses.fields(klass)} | set(extra)
    unknown = sorted(set(d) - known)
    if unknown:
        raise SpecError(f"{where}: unknown field(s) {unknown}; expected a subset of {sorted(known)}")


def _block_from_dict(d: Any, where: str) -> BlockSpec:
    if not isinstance(d, dict):
        raise SpecError(f"{where}: expected an object, got {type(d).__name__}")
    _reject_unknown(d, BlockSpec, where)
    layers = _positive(d.get("layers"), f"{where}.layers")
    per_layer = tuple(
        LayerOverride(
            btn=_positive(o.get("btn"), f"{where}.per_layer[{i}].btn"),
            kernel=_kernel(o.get("kernel"), f"{where}.per_layer[{i}].kernel"),
        )
        for i, o in enumerate(d.get("per_layer", ()) or ())
    )
    if per_layer and len(per_layer) != layers:
        raise SpecError(f"{where}.per_layer: has {len(per_layer)} entries for {layers} layers")
    se_ratio = float(d.get("se_ratio", 0.0))
    if se_ratio < 0:
        raise SpecError(f"{where}.se_ratio: must be >= 0, got {se_ratio}")
    return BlockSpec(
        out=_positive(d.get("out"), f"{where}.out"),
        btn=_positive(d.get("btn"), f"{where}.btn"),
        kernel=_kernel(d.get("kernel"), f"{where}.kernel"),
        stride=_positive(d.get("stride", 1), f"{where}.stride"),
        layers=layers,
        act=_choice(d.get("act", "relu"), ACTIVATIONS, f"{where}.act"),
        se_ratio=se_ratio,
        se_pattern=_choice(d.get("se_pattern", "none"), SE_PATTERNS, f"{where}.se_pattern"),
        residual=_choice(d.get("residual", "e3d"), RESIDUALS, f"{where}.residual"),
        per_layer=per_layer,
        se_divisor=_positive(d.get("se_divisor", 8), f"{where}.se_divisor"),
        dw_act=_choice(d.get("dw_act", ""), ("",) + ACTIVATIONS, f"{where}.dw_act"),
        post_act=_choice(d.get("post_act", "relu"), ACTIVATIONS, f"{where}.post_act"),
        se_act=_choice(d.get("se_act", "relu"), ACTIVATIONS, f"{where}.se_act"),
        se_after_act=_bool(d.get("se_after_act", False), f"{where}.se_after_act"),
        rezero=_bool(d.get("rezero", False), f"{where}.rezero"),
    )


def spec_from_dict(d: Any) -> ArchSpec:
    if not isinstance(d, dict):
        raise SpecError(f"spec: expected a JSON object, got {type(d).__name__}")
    version = d.get("schema_version", SPEC_SCHEMA_VERSION)
    if version != SPEC_SCHEMA_VERSION:
        raise SpecError(f"spec.schema_version: this version of e3d reads {SPEC_SCHEMA_VERSION}, got {version!r}")
    _reject_unknown(d, ArchSpec, "spec", extra=("schema_version",))
    for key in ("name", "stem", "blocks", "final"):
        if key not in d:
            raise SpecError(f"spec.{key}: required field is missing")
    blocks = d["blocks"]
    if not isinstance(blocks, list) or not blocks:
        raise SpecError("spec.blocks: expected a non-empty list of super blocks")
    head = d.get("head", {}) or {}
    if not isinstance(head, dict):
        raise SpecError("spec.head: expected an object")
    _reject_unknown(head, HeadSpec, "spec.head")
    return ArchSpec(
        name=str(d["name"]),
        stem=_conv_from_dict(d["stem"], "spec.stem"),
        blocks=tuple(_block_from_dict(b, f"spec.blocks[{i}]") for i, b in enumerate(blocks)),
        final=_conv_from_dict(d["final"], "spec.final"),
        head=HeadSpec(
            hidden=_positive(head.get("hidden", 2048), "spec.head.hidden"),
            act=_choice(head.get("act", "swish"), ACTIVATIONS, "spec.head.act"),
            dropout=float(head.get("dropout", 0.5)),
            hidden_bias=bool(head.get("hidden_bias", True)),
        ),
        resolution=_positive(d.get("resolution", 160), "spec.resolution"),
        frames=_positive(d.get("frames", 13), "spec.frames"),
        in_channels=_positive(d.get("in_channels", 3), "spec.in_channels"),
        family=_choice(d.get("family", "e3d"), FAMILIES, "spec.family"),
    )


def load_spec_file(path: str | Path) -> ArchSpec:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise SpecError(f"{path}: cannot read spec file ({exc.strerror})") from exc
    try:
        return ArchSpec.from_json(text)
    except SpecError as exc:
        raise SpecError(f"{path}: {exc}") from exc
