"""The search's incremental evaluator must equal the one cost model (e3d.arch.cost) and the one score."""

import random

import pytest

from e3d.arch import cost
from e3d.arch.builtins import e3d_initial
from e3d.arch.space import SearchSpace, parse_kernels
from e3d.score.entropy import score_spec
from e3d.search.fast import Evaluator


@pytest.mark.parametrize("resolution,frames,kind,ares", [(160, 13, "stentr", None), (224, 16, "stentr", 160),
                                                          (312, 16, "homoentr", None), (56, 5, "stentr", None)])
def test_evaluator_equals_cost_model_and_score(resolution, frames, kind, ares):
    sp = SearchSpace(template=e3d_initial(), resolution=resolution, max_layers=167,
                     kernels=parse_kernels("1x3x3,1x5x5,3x3x3,3x1x1,5x3x3"))
    ev = Evaluator(sp, frames, kind, ares)
    rng = random.Random(resolution)
    g = sp.genome_from_spec(sp.template)
    checked = 0
    for i in range(3000):
        g = sp.mutate(g, rng)
        if i % 10:
            continue
        spec = sp.spec_from_genome(g)
        s, m, p, layers = ev.evaluate(g)
        c = cost.cost(spec, resolution, frames)
        assert (m, p, layers) == (c.macs, c.params, c.layers)
        assert m == cost.conv_macs(spec, resolution, frames)
        r = score_spec(spec, kind, resolution, frames, alpha_resolution=ares)
        if r.valid:
            assert s == pytest.approx(r.score, abs=1e-9)
        else:
            assert s == float("-inf")
        checked += 1
    assert checked == 300


def test_evaluator_marks_parallel_kernels_invalid():
    sp = SearchSpace(template=e3d_initial(), resolution=160, max_layers=83)
    ev = Evaluator(sp, 20)  # block 1 outputs 20 x 20 at 20 frames: [3,3,3] is parallel to [20,20,20]
    g = list(sp.genome_from_spec(sp.template))
    assert ev.evaluate(tuple(g))[0] == float("-inf")
    g[3 + 5], g[4 + 5] = 1, 3
    assert ev.evaluate(tuple(g))[0] > 0
