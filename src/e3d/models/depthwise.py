"""A depthwise Conv3d whose CPU backward pass runs as two ordinary (oneDNN) convolutions.

PyTorch's CPU backward of a depthwise 3D convolution (groups == channels) goes through a slow generic kernel:
at the CPU training scale it is about 70% of a training step for the E3D models, 10-20x the forward pass.
Both gradients are themselves convolutions that the fast forward path handles:

- the input gradient is the output gradient (zero-stuffed by the stride) convolved with the flipped kernel;
- the weight gradient is the padded input convolved with the output gradient as a kernel (dilated by the
  stride), one group per (channel, sample), summed over the samples.

`DepthwiseConv3d` is an `nn.Conv3d` (same parameters, same state_dict), so checkpoints, fvcore counts and the
GPU path are unchanged; only a CPU forward that needs gradients takes the custom backward. The gradients agree
with PyTorch's to float rounding (tests/test_depthwise.py); `benchmarks/depthwise_backward.py` measures the
speed against PyTorch's own backward in the same process.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def _input_grad(gy: torch.Tensor, w: torch.Tensor, in_shape: torch.Size, stride, padding) -> torch.Tensor:
    k = w.shape[2:]
    if any(s > 1 for s in stride):
        stuffed = gy.new_zeros((*gy.shape[:2], *((o - 1) * s + 1 for o, s in zip(gy.shape[2:], stride))))
        stuffed[:, :, :: stride[0], :: stride[1], :: stride[2]] = gy
        gy = stuffed
    # pad so that the full correlation with the flipped kernel lands exactly on the input's extent
    pads: list[int] = []
    for dim in (2, 1, 0):  # F.pad lists the last dimension first
        before = k[dim] - 1 - padding[dim]
        after = in_shape[2 + dim] - (gy.shape[2 + dim] + before - k[dim] + 1)
        pads += [before, after]
    if min(pads) < 0:
        raise ValueError(f"depthwise input gradient: padding {padding} larger than kernel {tuple(k)} allows")
    return F.conv3d(F.pad(gy, pads), w.flip(2, 3, 4), None, 1, 0, 1, w.shape[0])


def _weight_grad(x: torch.Tensor, gy: torch.Tensor, k, stride, padding) -> torch.Tensor:
    n, c = x.shape[:2]
    xp = F.pad(x, (padding[2], padding[2], padding[1], padding[1], padding[0], padding[0]))
    # only the input a window reaches: (out - 1) * stride + kernel per dimension
    reach = [(o - 1) * s + kk for o, s, kk in zip(gy.shape[2:], stride, k)]
    xp = xp[:, :, : reach[0], : reach[1], : reach[2]]
    inp = xp.transpose(0, 1).reshape(1, c * n, *xp.shape[2:])
    ker = gy.transpose(0, 1).reshape(c * n, 1, *gy.shape[2:])
    out = F.conv3d(inp, ker, None, 1, 0, tuple(stride), c * n)
    return out.view(c, n, *out.shape[2:]).sum(1, keepdim=True)


class _DepthwiseConv3dCPU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, stride, padding):
        ctx.save_for_backward(x, weight)
        ctx.stride, ctx.padding = stride, padding
        return F.conv3d(x, weight, None, stride, padding, 1, weight.shape[0])

    @staticmethod
    def backward(ctx, gy):
        x, weight = ctx.saved_tensors
        gy = gy.contiguous()
        gx = _input_grad(gy, weight, x.shape, ctx.stride, ctx.padding) if ctx.needs_input_grad[0] else None
        gw = _weight_grad(x, gy, weight.shape[2:], ctx.stride, ctx.padding) if ctx.needs_input_grad[1] else None
        return gx, gw, None, None


def depthwise_conv3d(x: torch.Tensor, weight: torch.Tensor, stride, padding) -> torch.Tensor:
    """F.conv3d(x, weight, stride=stride, padding=padding, groups=channels) with the fast CPU backward."""
    return _DepthwiseConv3dCPU.apply(x, weight, tuple(stride), tuple(padding))


class DepthwiseConv3d(nn.Conv3d):
    """nn.Conv3d(c, c, kernel, groups=c, bias=False, dilation 1, zero padding) with the fast CPU backward."""

    def __init__(self, channels: int, kernel_size, stride=1, padding=0):
        super().__init__(channels, channels, kernel_size, stride=stride, padding=padding, groups=channels,
                         bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # a trace (fvcore's FLOP count) must see the aten convolution, not a Python autograd function
        if x.device.type == "cpu" and torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad) \
                and not torch.jit.is_tracing():
            return depthwise_conv3d(x, self.weight, self.stride, self.padding)
        return super().forward(x)
