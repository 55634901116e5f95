"""SGS inserted into E3D and X3D networks through the model builder."""

from __future__ import annotations

import dataclasses

import pytest
import torch

pytest.importorskip("e3d.models", reason="the model builder (branch arch) is not merged into this checkout")

from e3d.arch import builtins  # noqa: E402
from e3d.arch.spec import ArchSpec, BlockSpec, ConvSpec, HeadSpec  # noqa: E402
from e3d.models import build_model  # noqa: E402
from e3d.sgs import SGSConfig, SGSConfigError, build_sgs_model, find_sgs, flops_by_width, flops_of_clip  # noqa: E402
from e3d.sgs.cost import _fvcore_total  # noqa: E402

FRAMES, RES, CLASSES = 8, 32, 7


def _small(spec: ArchSpec) -> ArchSpec:
    """Same structure, one or two layers per super block and a small input: enough to exercise every stage."""
    blocks = tuple(dataclasses.replace(b, layers=min(b.layers, 2), per_layer=b.per_layer[:2]) for b in spec.blocks)
    return dataclasses.replace(spec, blocks=blocks, resolution=RES, frames=FRAMES,
                               head=dataclasses.replace(spec.head, hidden=64))


def _x3d_spec() -> ArchSpec:
    names = [n for n in builtins.builtin_names() if n.startswith("x3d")]
    if names:
        return builtins.get_builtin(sorted(names)[0])
    # X3D-S structure (Feichtenhofer 2020, Table 1) in our spec vocabulary, until the X3D builtins land
    rows = [(24, 54, 3), (48, 108, 5), (96, 216, 11), (192, 432, 7)]
    blocks = tuple(BlockSpec(out=o, btn=b, kernel=(3, 3, 3), stride=2, layers=n, act="swish", se_ratio=1 / 16,
                             se_pattern="alternate", residual="projection") for o, b, n in rows)
    return ArchSpec(name="x3d-s-like", stem=ConvSpec(out=24, kernel=(1, 3, 3), stride=2, act="relu", temporal_dw=5),
                    blocks=blocks, final=ConvSpec(out=432, kernel=(1, 1, 1), act="relu"),
                    head=HeadSpec(hidden=2048, act="relu", dropout=0.5), resolution=160, frames=13, family="x3d")


SPECS = {"e3d": lambda: _small(builtins.get_builtin("e3d-s")), "x3d": lambda: _small(_x3d_spec())}


def _clips(n_moving: int, n_static: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    moving = torch.randn(n_moving, 3, FRAMES, RES, RES, generator=gen)
    static = torch.randn(n_static, 3, 1, RES, RES, generator=gen).expand(n_static, 3, FRAMES, RES, RES)
    return torch.cat([moving, static])


@pytest.mark.parametrize("family", sorted(SPECS))
def test_sgs_inserts_after_every_stage_and_the_rest_runs_on_active_bins(family):
    spec = SPECS[family]()
    for stage in range(-1, len(spec.blocks)):
        torch.manual_seed(stage + 2)
        model = build_sgs_model(spec, CLASSES, {"stage": stage}).eval()
        sgs = find_sgs(model)
        assert sgs.num_bins == FRAMES
        seen: list[int] = []
        inputs: list[torch.Tensor] = []
        model.final.register_forward_pre_hook(lambda m, args: seen.append(args[0].shape[2]))
        sgs.register_forward_pre_hook(lambda m, args: inputs.append(args[0]))
        with torch.no_grad():
            logits = model(_clips(1, 1))
        assert logits.shape == (2, CLASSES) and torch.isfinite(logits).all()
        counts = sgs.last.counts
        assert inputs[0].shape[2] == FRAMES and (counts >= 1).all() and (counts <= FRAMES).all()
        assert seen == [int(counts.max())], f"stage {stage}: the layers after SGS did not run on B' frames"
        # a static clip stays static up to the first temporal kernel (zero temporal padding makes the border
        # frames differ after it): in E3D that is block 1 (stem 1x3x3, block 0 1x5x5); X3D's stem has one
        static_features = inputs[0][1]
        is_static = torch.allclose(static_features, static_features[:, :1].expand_as(static_features), rtol=1e-5, atol=1e-6)
        assert is_static == (family == "e3d" and stage <= 0)
        if is_static:
            assert counts[1] == 1


@pytest.mark.parametrize("family,stage", [("e3d", 0), ("x3d", 1)])
def test_measured_flops_follow_active_bins(family, stage):
    spec = SPECS[family]()
    torch.manual_seed(0)
    model = build_sgs_model(spec, CLASSES, SGSConfig(stage=stage)).eval()
    sgs = find_sgs(model)
    shape = (3, FRAMES, RES, RES)
    widths = [1, 4, FRAMES]
    table = flops_by_width(model, shape, widths)
    slopes = [(table[b] - table[a]) / (b - a) for a, b in zip(widths, widths[1:])]
    assert min(slopes) > 0 and max(slopes) - min(slopes) <= 1e-9 * table[FRAMES]  # affine in B'
    # at B' = T the rest of the network runs exactly as in the base model: the difference is SGS itself
    base = build_model(spec, CLASSES).eval()
    x = torch.randn(1, *shape)
    features: list[torch.Tensor] = []
    handle = sgs.register_forward_pre_hook(lambda m, args: features.append(args[0]))
    with torch.no_grad(), sgs.forced_width(FRAMES):
        model(x)
    handle.remove()
    with sgs.forced_width(FRAMES):
        sgs_own = _fvcore_total(sgs, features[0])
    assert table[FRAMES] == pytest.approx(_fvcore_total(base, x) + sgs_own, rel=1e-12)
    clip = _clips(1, 0, seed=3)[0]
    with torch.no_grad():
        model(clip[None])
    count = int(sgs.last.counts[0])
    expected = table[count] if count in table else table[1] + (count - 1) * slopes[0]
    assert flops_of_clip(model, clip) == pytest.approx(expected, rel=1e-12)


def test_stage_outside_the_spec_is_a_config_error():
    spec = SPECS["e3d"]()
    with pytest.raises(SGSConfigError, match="sgs.stage"):
        build_sgs_model(spec, CLASSES, {"stage": len(spec.blocks)})
