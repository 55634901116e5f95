"""Candidate operations of the pseudo-3D cell search space.

Every operation maps [N, C, T, H, W] -> [N, C, T, H/s, W/s] with a spatial stride s in {1, 2}; time is never
strided (the clips are only a few frames per segment). Convolutions follow DARTS's ReLU-Conv-BN ordering, and a
pseudo-3D conv factorises a kt x k x k kernel into a 1 x k x k spatial conv and a k x 1 x 1 temporal conv.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from e3d.errors import E3DError


class UnknownOperationError(E3DError, KeyError):
    """An operation name that the search space does not define."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


def _stride(stride: int) -> tuple[int, int, int]:
    return (1, stride, stride)


class ReLUConvBN(nn.Module):
    def __init__(self, c_in: int, c_out: int, kernel, stride=(1, 1, 1), padding=(0, 0, 0), dilation=(1, 1, 1),
                 affine: bool = True):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv3d(c_in, c_out, kernel, stride=stride, padding=padding, dilation=dilation, bias=False),
            nn.BatchNorm3d(c_out, affine=affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class P3DConv(nn.Sequential):
    """ReLU-Conv(1xkxk, spatial stride)-BN then ReLU-Conv(kx1x1)-BN; `dilation` applies to both factors."""

    def __init__(self, c_in: int, c_out: int, k: int, stride: int, dilation: int = 1, affine: bool = True):
        pad = dilation * (k - 1) // 2
        super().__init__(
            ReLUConvBN(c_in, c_out, (1, k, k), _stride(stride), (0, pad, pad), (1, dilation, dilation), affine),
            ReLUConvBN(c_out, c_out, (k, 1, 1), (1, 1, 1), (pad, 0, 0), (dilation, 1, 1), affine),
        )


class Zero(nn.Module):
    """The 'none' operation: an all-zero output of the right shape (keeps a place for 'no edge' in the mix)."""

    def __init__(self, stride: int):
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return x.mul(0.0)
        return x[:, :, :, :: self.stride, :: self.stride].mul(0.0)


class FactorizedReduce(nn.Module):
    """Halve H and W with two 1x1x1 stride-(1,2,2) convs offset by one pixel, concatenated (DARTS's reduce skip)."""

    def __init__(self, c_in: int, c_out: int, affine: bool = True):
        super().__init__()
        if c_out % 2:
            raise E3DError(f"FactorizedReduce needs an even number of output channels, got {c_out}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv3d(c_in, c_out // 2, 1, stride=(1, 2, 2), bias=False)
        self.conv_2 = nn.Conv3d(c_in, c_out // 2, 1, stride=(1, 2, 2), bias=False)
        self.bn = nn.BatchNorm3d(c_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        # Pad odd sizes so both branches land on the same grid.
        if x.shape[-1] % 2 or x.shape[-2] % 2:
            x = nn.functional.pad(x, (0, x.shape[-1] % 2, 0, x.shape[-2] % 2))
        out = torch.cat([self.conv_1(x), self.conv_2(x[:, :, :, 1:, 1:])], dim=1)
        return self.bn(out)


class AvgPool(nn.Module):
    """Average pooling over the in-bounds window only (count_include_pad=False).

    torch's avg_pool3d rejects inputs shorter than the kernel even when padded, and a segment has only
    a few frames, so the padding is explicit and the border counts are computed once per input shape.
    """

    def __init__(self, kernel: tuple[int, int, int], stride: tuple[int, int, int]):
        super().__init__()
        self.kernel, self.stride = kernel, stride
        self.pad = tuple(p for k in reversed(kernel) for p in (k // 2, k // 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        summed = nn.functional.avg_pool3d(nn.functional.pad(x, self.pad), self.kernel, self.stride, divisor_override=1)
        ones = torch.ones((1, 1, *x.shape[2:]), dtype=x.dtype, device=x.device)
        count = nn.functional.avg_pool3d(nn.functional.pad(ones, self.pad), self.kernel, self.stride, divisor_override=1)
        return summed / count


def _pool(kind: str, kt: int) -> Callable[[int, int, bool], nn.Module]:
    def make(c: int, stride: int, affine: bool) -> nn.Module:
        kernel, pad = (kt, 3, 3), (kt // 2, 1, 1)
        if kind == "max":
            return nn.MaxPool3d(kernel, stride=_stride(stride), padding=pad)
        return AvgPool(kernel, _stride(stride))

    return make


def _skip(c: int, stride: int, affine: bool) -> nn.Module:
    return nn.Identity() if stride == 1 else FactorizedReduce(c, c, affine=affine)


# name -> constructor(channels, spatial stride, affine). Order is irrelevant: a search space lists its own.
OPS: dict[str, Callable[[int, int, bool], nn.Module]] = {
    "none": lambda c, s, a: Zero(s),
    "skip_connect": _skip,
    "max_pool_1x3x3": _pool("max", 1),
    "avg_pool_1x3x3": _pool("avg", 1),
    "max_pool_3x3x3": _pool("max", 3),
    "avg_pool_3x3x3": _pool("avg", 3),
    "p3d_conv_3": lambda c, s, a: P3DConv(c, c, 3, s, 1, a),
    "p3d_conv_5": lambda c, s, a: P3DConv(c, c, 5, s, 1, a),
    "dil_p3d_conv_3": lambda c, s, a: P3DConv(c, c, 3, s, 2, a),
    "dil_p3d_conv_5": lambda c, s, a: P3DConv(c, c, 5, s, 2, a),
}

# The default search space: the operations of the reference (darts-p3d.md).
DEFAULT_PRIMITIVES: tuple[str, ...] = (
    "none",
    "skip_connect",
    "max_pool_1x3x3",
    "avg_pool_1x3x3",
    "max_pool_3x3x3",
    "avg_pool_3x3x3",
    "p3d_conv_3",
    "p3d_conv_5",
    "dil_p3d_conv_3",
)

PARAMETER_FREE = frozenset(n for n in OPS if "pool" in n or n in ("none", "skip_connect"))


def check_primitives(primitives) -> tuple[str, ...]:
    primitives = tuple(primitives)
    unknown = [p for p in primitives if p not in OPS]
    if unknown:
        raise UnknownOperationError(f"unknown operation(s) {unknown}; known: {sorted(OPS)}")
    if len(set(primitives)) != len(primitives):
        raise E3DError(f"operations listed twice in {list(primitives)}")
    if not [p for p in primitives if p != "none"]:
        raise E3DError("the search space needs at least one operation other than 'none'")
    return primitives


def make_op(name: str, channels: int, stride: int, affine: bool = True) -> nn.Module:
    try:
        ctor = OPS[name]
    except KeyError:
        raise UnknownOperationError(f"unknown operation {name!r}; known: {sorted(OPS)}") from None
    return ctor(channels, stride, affine)
