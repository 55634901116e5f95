"""The PyTorch builder: shapes, the authors' residual rules, training options, temporal modules."""

import dataclasses

import pytest
import torch
from torch import nn

from e3d.arch.builtins import get_builtin
from e3d.arch.cost import cost
from e3d.arch.spec import SpecError
from e3d.models import build_model, effective_spec
from e3d.models.builder import InvertedBottleneck, SpatialAvgPool, SqueezeExcite


def _clip(n=2, t=4, r=32):
    return torch.randn(n, 3, t, r, r)


@pytest.mark.parametrize("name", ["e3d-s", "x3d-s", "movinet-a0"])
def test_forward_shape_and_features(name):
    torch.manual_seed(0)
    model = build_model(get_builtin(name), 7).eval()
    with torch.no_grad():
        out = model(_clip(r=33))
        feats = model.features(_clip(r=33))
    assert out.shape == (2, 7) and torch.isfinite(out).all()
    # ceil(33 / 2^5) = 2 spatially, T unchanged
    assert feats.shape == (2, model.spec.final.out, 4, 2, 2)


def test_e3d_defaults_are_the_released_code():
    model = build_model(get_builtin("e3d-s"), 10)
    assert not any(isinstance(m, SqueezeExcite) for m in model.modules())
    assert not any(isinstance(m, (nn.SiLU, nn.Hardswish)) for m in model.stages.modules())
    assert all(m.bias is None for m in model.modules() if isinstance(m, nn.Conv3d))
    layers = [m for m in model.modules() if isinstance(m, InvertedBottleneck)]
    # block 0: 24 -> 24 with stride 2 -> AvgPool residual; block 1 layer 0: 24 -> 48 -> no residual
    assert isinstance(layers[0].residual, SpatialAvgPool)
    assert isinstance(layers[1].residual, nn.Identity)
    assert layers[3].residual is None
    head = model.head
    assert head.hidden.in_features == 512 and head.hidden.out_features == 2048
    assert isinstance(head.act, nn.SiLU)


def test_training_options_add_se_and_change_activation():
    spec = get_builtin("e3d-s")
    model = build_model(spec, 10, se_ratio=0.25, act="swish")
    se = [m for m in model.modules() if isinstance(m, SqueezeExcite)]
    assert len(se) == sum(b.layers for b in spec.blocks)
    se_acts = {id(m.act) for m in se}  # the SE's own ReLU stays (squeeze-excitation as in X3D)
    assert not any(isinstance(m, nn.ReLU) and id(m) not in se_acts for m in model.modules())
    assert sum(p.numel() for p in model.parameters()) == cost(model.spec, num_classes=10).params
    assert effective_spec(spec, se_ratio=0.0).blocks == spec.blocks
    with pytest.raises(SpecError):
        build_model(spec, 10, act="gelu")
    with pytest.raises(SpecError):
        build_model(spec, 10, se_ratio=2.0)
    with pytest.raises(SpecError):
        build_model(spec, 0)


class HalveTime(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.channels = channels

    def forward(self, x):
        assert x.shape[1] == self.channels
        return x[:, :, ::2]


def test_temporal_modules_change_T_at_stage_boundaries():
    spec = get_builtin("e3d-initial")
    model = build_model(spec, 5, temporal_modules={-1: HalveTime, 2: HalveTime}).eval()
    assert model.temporal["-1"].channels == 24 and model.temporal["2"].channels == 96
    with torch.no_grad():
        feats = model.features(_clip(t=8))
        out = model(_clip(t=8))
    assert feats.shape[2] == 2 and out.shape == (2, 5)
    for bad in (5, -2, "1"):
        with pytest.raises(SpecError, match="stage index"):
            build_model(spec, 5, temporal_modules={bad: HalveTime})
    with pytest.raises(SpecError, match="not nn.Module"):
        build_model(spec, 5, temporal_modules={0: lambda c: None})


def test_residual_pooling_handles_odd_and_tiny_sizes():
    spec = get_builtin("e3d-initial")
    model = build_model(spec, 3).eval()
    with torch.no_grad():
        for r in (1, 3, 17, 31):
            assert model.features(_clip(n=1, t=2, r=r)).shape[-1] == -(-r // 32)
    pool = SpatialAvgPool(3, 2, 1)
    x = torch.randn(1, 2, 3, 2, 2)
    assert torch.allclose(pool(x), x.mean(dim=(-2, -1), keepdim=True))


def test_even_kernels_are_rejected():
    spec = get_builtin("e3d-initial")
    bad = dataclasses.replace(spec, blocks=(dataclasses.replace(spec.blocks[0], kernel=(2, 3, 3)),) + spec.blocks[1:])
    with pytest.raises(SpecError, match="odd"):
        build_model(bad, 3)


def test_deterministic_init_and_trains():
    spec = get_builtin("e3d-initial")
    torch.manual_seed(3)
    a = build_model(spec, 4)
    torch.manual_seed(3)
    b = build_model(spec, 4)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    x, y = _clip(n=4, t=2, r=16), torch.tensor([0, 1, 2, 3])
    opt = torch.optim.SGD(a.parameters(), lr=0.1)
    losses = []
    for _ in range(5):
        loss = nn.functional.cross_entropy(a(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
