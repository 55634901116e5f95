"""e3d.models.depthwise: the depthwise Conv3d whose CPU backward runs as two ordinary convolutions must give
PyTorch's own gradients (float64, to rounding) for every kernel, stride and padding the builders use, keep
nn.Conv3d's parameters and state_dict, and leave inference and no-grad paths on PyTorch's kernel."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from e3d.models.depthwise import DepthwiseConv3d, depthwise_conv3d

CASES = [
    # (kernel, stride, padding, input T, H, W)
    ((3, 3, 3), (1, 1, 1), (1, 1, 1), 6, 9, 9),
    ((3, 3, 3), (1, 2, 2), (1, 1, 1), 5, 9, 8),
    ((1, 5, 5), (1, 2, 2), (0, 2, 2), 4, 11, 10),
    ((1, 3, 3), (1, 1, 1), (0, 1, 1), 3, 4, 4),
    ((5, 3, 3), (1, 2, 2), (2, 1, 1), 7, 6, 7),
    ((3, 1, 1), (1, 1, 1), (1, 0, 0), 8, 3, 3),
    ((5, 1, 1), (1, 1, 1), (2, 0, 0), 4, 5, 5),  # X3D's temporal stem conv
    ((3, 3, 3), (2, 2, 2), (1, 1, 1), 7, 7, 7),
    ((3, 3, 3), (1, 2, 2), (1, 1, 1), 4, 1, 1),  # a 1x1 map: every window mostly padding
]


@pytest.mark.parametrize("kernel,stride,padding,t,h,w", CASES)
def test_gradients_match_pytorch(kernel, stride, padding, t, h, w):
    torch.manual_seed(0)
    c, n = 5, 3
    x = torch.randn(n, c, t, h, w, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(c, 1, *kernel, dtype=torch.float64, requires_grad=True)
    ref = F.conv3d(x, weight, None, stride, padding, 1, c)
    gy = torch.randn_like(ref)
    gx_ref, gw_ref = torch.autograd.grad(ref, (x, weight), gy)

    out = depthwise_conv3d(x, weight, stride, padding)
    assert out.shape == ref.shape
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)
    gx, gw = torch.autograd.grad(out, (x, weight), gy)
    torch.testing.assert_close(gx, gx_ref, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(gw, gw_ref, rtol=1e-10, atol=1e-10)


def test_gradcheck():
    torch.manual_seed(1)
    x = torch.randn(2, 3, 4, 5, 5, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(3, 1, 3, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: depthwise_conv3d(a, b, (1, 2, 2), (1, 1, 1)), (x, weight))


def test_module_is_a_conv3d_with_the_same_state_and_training_result():
    torch.manual_seed(2)
    ours = DepthwiseConv3d(6, (3, 3, 3), stride=(1, 2, 2), padding=(1, 1, 1))
    stock = torch.nn.Conv3d(6, 6, (3, 3, 3), stride=(1, 2, 2), padding=(1, 1, 1), groups=6, bias=False)
    assert isinstance(ours, torch.nn.Conv3d)
    assert ours.state_dict().keys() == stock.state_dict().keys()
    stock.load_state_dict(ours.state_dict())
    x = torch.randn(4, 6, 5, 12, 12)
    for module in (ours, stock):
        module.zero_grad()
        module(x).square().mean().backward()
    torch.testing.assert_close(ours.weight.grad, stock.weight.grad, rtol=1e-5, atol=1e-6)
    with torch.no_grad():  # inference takes PyTorch's own path
        torch.testing.assert_close(ours(x), stock(x), rtol=0, atol=0)


def test_builder_uses_it_for_depthwise_convs_only():
    from e3d.arch.builtins import get_builtin
    from e3d.models.builder import build_model

    spec = get_builtin("e3d-initial").with_input(32, 4)
    model = build_model(spec, num_classes=10)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv3d)]
    depthwise = [m for m in convs if m.groups > 1 and m.groups == m.in_channels == m.out_channels]
    assert depthwise and all(isinstance(m, DepthwiseConv3d) for m in depthwise)
    assert not any(isinstance(m, DepthwiseConv3d) for m in convs if m.groups == 1)


def test_fvcore_counts_it_like_a_conv3d_with_gradients_enabled():
    """fvcore traces the model (torch.jit.trace) outside no_grad: the trace must hold the convolution."""
    from fvcore.nn import FlopCountAnalysis

    ours = DepthwiseConv3d(4, (3, 3, 3), stride=(1, 2, 2), padding=(1, 1, 1))
    stock = torch.nn.Conv3d(4, 4, (3, 3, 3), stride=(1, 2, 2), padding=(1, 1, 1), groups=4, bias=False)
    x = torch.randn(1, 4, 4, 8, 8)
    counted = FlopCountAnalysis(ours, x).unsupported_ops_warnings(False).total()
    assert counted == FlopCountAnalysis(stock, x).unsupported_ops_warnings(False).total() > 0
