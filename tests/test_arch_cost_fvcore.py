"""Property test: the analytic cost model equals fvcore on real PyTorch modules (conv+linear MACs, params)."""

import dataclasses

import numpy as np
import pytest
import torch

from e3d.arch.builtins import builtin_names, get_builtin
from e3d.arch.cost import cost
from e3d.arch.spec import LayerOverride
from e3d.models import build_model
from e3d.models.flops import fvcore_counts

pytestmark = pytest.mark.usefixtures("one_torch_thread")


KERNELS = [(1, 3, 3), (1, 5, 5), (3, 3, 3), (3, 1, 1), (5, 3, 3)]
STRIDES = get_builtin("e3d-initial")  # strides 2,2,2,1,2 from the E3D spec


def _width(rng: np.random.Generator) -> int:
    # multiples of 8 in [8, 640], log-uniform so that most candidates stay small and the test fast
    return int(min(640, max(8, 8 * round(float(np.exp(rng.uniform(np.log(8), np.log(640)))) / 8))))


def random_spec(rng: np.random.Generator, i: int):
    base = STRIDES
    stem = dataclasses.replace(base.stem, out=8 * int(rng.integers(1, 5)),
                               kernel=KERNELS[int(rng.integers(len(KERNELS)))])
    blocks = []
    for b in base.blocks:
        out = _width(rng)
        layers = int(rng.integers(1, 5))
        kw = dict(out=out, btn=_width(rng), kernel=KERNELS[int(rng.integers(len(KERNELS)))],
                  layers=layers, act=str(rng.choice(["relu", "swish", "hswish"])))
        if rng.random() < 0.4:
            kw.update(se_ratio=float(rng.choice([0.0625, 0.25])), se_pattern=str(rng.choice(["all", "alternate"])),
                      se_after_act=bool(rng.random() < 0.5))
        if rng.random() < 0.3:
            kw.update(residual=str(rng.choice(["projection", "pool_projection"])), rezero=bool(rng.random() < 0.5),
                      post_act="none")
        if rng.random() < 0.15:
            kw["per_layer"] = tuple(LayerOverride(_width(rng), KERNELS[int(rng.integers(5))])
                                    for _ in range(layers))
        blocks.append(dataclasses.replace(b, **kw))
    # a third of the specs repeat the previous width so the identity / AvgPool residuals are exercised
    for j in range(1, len(blocks)):
        if rng.random() < 0.35:
            blocks[j] = dataclasses.replace(blocks[j], out=blocks[j - 1].out)
    if rng.random() < 0.3:
        blocks[0] = dataclasses.replace(blocks[0], out=stem.out)
    final = dataclasses.replace(base.final, out=_width(rng))
    return dataclasses.replace(base, name=f"random-{i}", stem=stem, blocks=tuple(blocks), final=final,
                               resolution=int(rng.integers(5, 21)), frames=int(rng.integers(1, 3)))


def _check(spec, num_classes):
    # built on the meta device and given uninitialised CPU storage: counting needs shapes, not initialised weights
    with torch.device("meta"):
        model = build_model(spec, num_classes)
    model = model.to_empty(device="cpu")
    with torch.no_grad():  # uninitialised memory holds denormals, which make CPU convs 100x slower
        for t in list(model.parameters()) + list(model.buffers()):
            t.zero_()
    clip = torch.zeros(1, 3, spec.frames, spec.resolution, spec.resolution)
    counts = fvcore_counts(model, clip, full=False)
    analytic = cost(spec, num_classes=num_classes)
    assert set(counts["conv_by_operator"]) <= {"conv", "linear"}, counts["conv_by_operator"]
    # the brief allows 0.5%; the model is exact, so any difference is a bug
    assert analytic.macs == counts["conv_macs"], (spec.name, analytic.macs, counts["conv_macs"])
    assert analytic.params == counts["params"], (spec.name, analytic.params, counts["params"])
    return model, clip


def test_random_search_space_specs_match_fvcore():
    rng = np.random.default_rng(20240607)
    for i in range(200):
        spec = random_spec(rng, i)
        model, clip = _check(spec, int(rng.integers(2, 500)))
        del model, clip


@pytest.mark.parametrize("name", builtin_names())
def test_builtins_match_fvcore_at_small_input(name):
    # the full-size figures are in the profile tests / report; the arithmetic is resolution-independent
    spec = get_builtin(name).with_input(resolution=64, frames=4)
    _check(spec, 400)


def test_random_specs_are_diverse():
    rng = np.random.default_rng(20240607)
    specs = [random_spec(rng, i) for i in range(200)]
    assert any(b.se_ratio > 0 for s in specs for b in s.blocks)
    assert any(b.per_layer for s in specs for b in s.blocks)
    assert {b.residual for s in specs for b in s.blocks} == {"e3d", "projection", "pool_projection"}
    assert any(s.blocks[0].out == s.stem.out for s in specs)  # AvgPool residual in a strided block
    assert any(s.resolution % 2 for s in specs)  # odd sizes: ceil(R / s)
