"""PyTorch networks from an ArchSpec: E3D as the authors build it, X3D as pytorchvideo's create_x3d, MoViNet-base
as TF-Models' Movinet (3D convs, non-causal).

Every conv is Conv3d without bias + BatchNorm3d; padding is k // 2 and strides are spatial only, so a clip of
T frames keeps T frames and a stride-s layer maps R to ceil(R / s): exactly what e3d.arch.cost counts.
"""

from __future__ import annotations

from typing import Callable, Iterable, Mapping

import torch
from torch import nn

from e3d.arch.options import effective_spec  # noqa: F401 (re-exported)
from e3d.arch.cost import has_residual, needs_projection, projection_has_bn
from e3d.arch.spec import ACTIVATIONS, ArchSpec, BlockSpec, ConvSpec, SpecError
from e3d.models.depthwise import DepthwiseConv3d

TemporalFactory = Callable[[int], nn.Module]


def make_act(name: str) -> nn.Module:
    if name == "relu":
        return nn.ReLU(inplace=True)
    if name == "swish":
        return nn.SiLU(inplace=True)
    if name == "hswish":
        return nn.Hardswish(inplace=True)
    if name == "none":
        return nn.Identity()
    raise SpecError(f"unknown activation {name!r}; expected one of {', '.join(ACTIVATIONS)}")


def _conv(cin: int, cout: int, kernel: tuple[int, int, int], stride: int = 1, groups: int = 1) -> nn.Conv3d:
    kt, k, _ = kernel
    if groups == cin == cout and groups > 1:  # depthwise: the same Conv3d, with a fast CPU backward
        return DepthwiseConv3d(cin, (kt, k, k), stride=(1, stride, stride), padding=(kt // 2, k // 2, k // 2))
    return nn.Conv3d(cin, cout, kernel_size=(kt, k, k), stride=(1, stride, stride),
                     padding=(kt // 2, k // 2, k // 2), groups=groups, bias=False)


class ConvBNAct(nn.Sequential):
    """Conv3d (no bias) -> BN -> activation: the stem and final convs (Conv3DKXBNRELU in the authors' code)."""

    def __init__(self, cin: int, spec: ConvSpec):
        layers = [_conv(cin, spec.out, spec.kernel, spec.stride)]
        if spec.temporal_dw:
            # X3D's stem: 1xkxk conv, then a depthwise temporal conv, one BN after both
            layers.append(_conv(spec.out, spec.out, (spec.temporal_dw, 1, 1), groups=spec.out))
        layers += [nn.BatchNorm3d(spec.out), make_act(spec.act)]
        super().__init__(*layers)


class SqueezeExcite(nn.Module):
    """Global average pool -> 1x1x1 conv (bias) -> act -> 1x1x1 conv (bias) -> sigmoid gate."""

    def __init__(self, channels: int, reduced: int, act: str):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.reduce = nn.Conv3d(channels, reduced, 1, bias=True)
        self.act = make_act(act)
        self.expand = nn.Conv3d(reduced, channels, 1, bias=True)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.expand(self.act(self.reduce(self.pool(x)))))


class InvertedBottleneck(nn.Module):
    """1x1x1 expand -> act -> depthwise (stride (1,s,s)) -> [SE] -> act -> 1x1x1 project -> + residual -> act."""

    def __init__(self, b: BlockSpec, cin: int, btn: int, kernel: tuple[int, int, int], stride: int, se: bool):
        super().__init__()
        self.expand = nn.Sequential(_conv(cin, btn, (1, 1, 1)), nn.BatchNorm3d(btn), make_act(b.act))
        dw: list[nn.Module] = [_conv(btn, btn, kernel, stride, groups=btn), nn.BatchNorm3d(btn)]
        se_mod = [SqueezeExcite(btn, b.se_channels(btn), b.se_act)] if se else []
        dw += ([make_act(b.depthwise_act)] + se_mod) if b.se_after_act else (se_mod + [make_act(b.depthwise_act)])
        self.depthwise = nn.Sequential(*dw)
        self.project = nn.Sequential(_conv(btn, b.out, (1, 1, 1)), nn.BatchNorm3d(b.out))
        self.rezero = nn.Parameter(torch.zeros(())) if b.rezero else None
        self.residual = _residual(b, cin, stride)
        self.post_act = make_act(b.post_act)

    def pre_activation(self, x: torch.Tensor) -> torch.Tensor:
        """The block's output before its final activation (residual added)."""
        out = self.project(self.depthwise(self.expand(x)))
        if self.rezero is not None:
            out = out * self.rezero
        if self.residual is not None:
            out = out + self.residual(x)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.post_act(self.pre_activation(x))


def _residual(b: BlockSpec, cin: int, stride: int) -> nn.Module | None:
    if not has_residual(b, cin, stride):
        return None
    if not needs_projection(b, cin, stride):
        if stride == 1:
            return nn.Identity()
        # the authors' AvgPool(1,2,2); ceil_mode keeps ceil(R/s) for odd R, where theirs would fail to add
        return SpatialAvgPool(stride, stride, 0, ceil_mode=True)
    bn = [nn.BatchNorm3d(b.out)] if projection_has_bn(b, cin) else []
    if b.residual == "projection":
        return nn.Sequential(_conv(cin, b.out, (1, 1, 1), stride), *bn)
    pool = []
    if stride > 1:  # MoViNet: AvgPool3D (1,3,3)/(1,2,2) 'same', averaging only real pixels
        pool = [SpatialAvgPool(3, stride, 1)]
    return nn.Sequential(*pool, _conv(cin, b.out, (1, 1, 1)), *bn)


class SpatialAvgPool(nn.Module):
    """AvgPool3d over (1, k, k) averaging only real pixels (count_include_pad=False), output ceil(R / s).

    torch refuses inputs smaller than the kernel; there the single output window covers every pixel, so it is the
    spatial mean (what TF's 'same' pooling gives)."""

    def __init__(self, kernel: int, stride: int, padding: int, ceil_mode: bool = False):
        super().__init__()
        self.kernel = kernel
        self.pool = nn.AvgPool3d((1, kernel, kernel), (1, stride, stride), (0, padding, padding),
                                 ceil_mode=ceil_mode, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] < self.kernel or x.shape[-2] < self.kernel:
            return x.mean(dim=(-2, -1), keepdim=True)
        return self.pool(x)


class Head(nn.Module):
    """Global average pool -> Linear(C, hidden) -> act -> dropout -> Linear(hidden, classes)."""

    def __init__(self, cin: int, spec: ArchSpec, num_classes: int):
        super().__init__()
        h = spec.head
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.hidden = nn.Linear(cin, h.hidden, bias=h.hidden_bias)
        self.act = make_act(h.act)
        self.dropout = nn.Dropout(h.dropout)
        self.classifier = nn.Linear(h.hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(x).flatten(1)
        return self.classifier(self.dropout(self.act(self.hidden(x))))


class VideoNet(nn.Module):
    """stem -> super blocks -> final conv -> head, with optional temporal modules at stage boundaries."""

    def __init__(self, spec: ArchSpec, num_classes: int, temporal_modules: Mapping[int, TemporalFactory] | None = None,
                 temporal_before_act: Iterable[int] = ()):
        super().__init__()
        self.spec = spec
        self.num_classes = num_classes
        self.stem = ConvBNAct(spec.in_channels, spec.stem)
        stages = []
        c = spec.stem.out
        for b in spec.blocks:
            layers = []
            for i in range(b.layers):
                btn, kernel = b.layer_btn_kernel(i)
                layers.append(InvertedBottleneck(b, c if i == 0 else b.out, btn, kernel,
                                                 b.stride if i == 0 else 1, b.layer_has_se(i)))
            stages.append(nn.Sequential(*layers))
            c = b.out
        self.stages = nn.ModuleList(stages)
        self.final = ConvBNAct(c, spec.final)
        self.head = Head(spec.final.out, spec, num_classes)
        self.temporal = nn.ModuleDict()
        widths = [spec.stem.out] + [b.out for b in spec.blocks]
        for index, factory in (temporal_modules or {}).items():
            if isinstance(index, bool) or not isinstance(index, int) or not -1 <= index < len(spec.blocks):
                raise SpecError(f"temporal_modules: stage index {index!r} is not in -1..{len(spec.blocks) - 1} "
                                "(-1 = after the stem, i = after super block i)")
            module = factory(widths[index + 1])
            if not isinstance(module, nn.Module):
                raise SpecError(f"temporal_modules[{index}]: factory returned {type(module).__name__}, not nn.Module")
            self.temporal[str(index)] = module
        self.temporal_before_act = frozenset(str(i) for i in temporal_before_act)
        unknown = sorted(self.temporal_before_act - set(self.temporal))
        if unknown:
            raise SpecError(f"temporal_before_act: no temporal module at stage(s) {', '.join(unknown)}")
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.01)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def _run_stage(self, index: int, x: torch.Tensor) -> torch.Tensor:
        """Stage `index` (-1 = the stem) with its temporal module, if any: after the stage, or between its last
        block's residual add and final activation (SGS as its authors place it)."""
        stage = self.stem if index == -1 else self.stages[index]
        key = str(index)
        if key not in self.temporal:
            return stage(x)
        if key not in self.temporal_before_act:
            return self.temporal[key](stage(x))
        *body, last = list(stage)  # (a Sequential subclass cannot be sliced: slicing calls its constructor)
        for module in body:
            x = module(x)
        if index == -1:  # ConvBNAct ends with its activation
            return last(self.temporal[key](x))
        return last.post_act(self.temporal[key](last.pre_activation(x)))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """[N, 3, T, H, W] -> the final conv's output [N, C, T', H', W'] (before the head)."""
        for i in range(-1, len(self.stages)):
            x = self._run_stage(i, x)
        return self.final(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _check_buildable(spec: ArchSpec) -> None:
    convs = [("stem", spec.stem.kernel), ("final", spec.final.kernel)]
    for i, b in enumerate(spec.blocks):
        convs += [(f"blocks[{i}]", b.layer_btn_kernel(j)[1]) for j in range(b.layers)]
    for where, (kt, k, _) in convs:
        if not (kt % 2 and k % 2):
            raise SpecError(f"{spec.name}: {where}: kernel {kt}x{k}x{k} is not odd; the builder pads k // 2")
    if spec.stem.temporal_dw and not spec.stem.temporal_dw % 2:
        raise SpecError(f"{spec.name}: stem.temporal_dw must be odd, got {spec.stem.temporal_dw}")


def build_model(spec: ArchSpec, num_classes: int, *, se_ratio: float | None = None, act: str | None = None,
                temporal_modules: Mapping[int, TemporalFactory] | None = None,
                temporal_before_act: Iterable[int] = ()) -> VideoNet:
    """A network for `spec` taking [N, 3, T, H, W] float clips and returning [N, num_classes] logits.

    se_ratio / act: the paper's Appendix F training options (see effective_spec); the defaults keep the spec
    (for E3D: the released code, no SE, ReLU). The model's `.spec` is the effective spec, so
    `e3d.arch.cost.cost(model.spec)` counts exactly this network.
    temporal_modules: stage index -> factory(channels) -> nn.Module, inserted after that stage (-1 = after the
    stem, i = after super block i); each maps [N, C, T, H, W] -> [N, C, T', H, W] and may change T.
    temporal_before_act: the stages whose module goes before the stage's last activation instead of after it.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise SpecError(f"num_classes must be a positive integer, got {num_classes!r}")
    spec = effective_spec(spec, se_ratio=se_ratio, act=act)
    _check_buildable(spec)
    return VideoNet(spec, num_classes, temporal_modules, temporal_before_act)
