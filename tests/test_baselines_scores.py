"""Zen-score, MAE-DET and the forward entropy estimate: seeded, finite, and ordered the way theory says."""

import math

import pytest
import torch
from torch import nn

from e3d.arch.builtins import get_builtin
from e3d.errors import E3DError
from e3d.score import registry
from e3d.score.forward_common import ConvUnits, ForwardScoreError, resolve_device, stage_ends_of
from e3d.score.forward_entropy import analytic_three_layer, forward_entropy_units
from e3d.score.madet import madet_units
from e3d.score.zen import zen_model


def chain(width: int, depth: int = 3, cin: int = 3) -> ConvUnits:
    convs = [nn.Conv3d(cin if i == 0 else width, width, 3, padding=1, bias=False) for i in range(depth)]
    return ConvUnits([(f"u{i}", [c]) for i, c in enumerate(convs)], [depth - 1], [width], cin,
                     modules=nn.ModuleList(convs))


def valid_chain(width: int) -> ConvUnits:
    """1x1x1 -> 3x3x3 -> 1x1x1 without padding: Eq. 5 holds exactly in expectation."""
    convs = [nn.Conv3d(width, width, k, bias=False) for k in (1, 3, 1)]
    return ConvUnits([(f"u{i}", [c]) for i, c in enumerate(convs)], [2], [width], width,
                     modules=nn.ModuleList(convs))


class ZenNet(nn.Module):
    def __init__(self, width: int, depth: int = 2):
        super().__init__()
        layers, c = [], 3
        for _ in range(depth):
            layers += [nn.Conv3d(c, width, 3, padding=1, bias=False), nn.BatchNorm3d(width), nn.ReLU()]
            c = width
        self.body = nn.Sequential(*layers)

    def features(self, x):
        return self.body(x)


def test_madet_deterministic_by_seed_and_finite():
    a = madet_units(chain(16), 8, 4, stage_weights=[1.0], seed=3)
    b = madet_units(chain(16), 8, 4, stage_weights=[1.0], seed=3)
    c = madet_units(chain(16), 8, 4, stage_weights=[1.0], seed=4)
    assert a == b and math.isfinite(a)
    assert a != c


def test_madet_grows_with_width():
    # log std grows by 1/2 ln(width) per conv and the stage term by ln(width): strictly increasing in width
    values = [madet_units(chain(w), 8, 4, stage_weights=[1.0], repeats=2) for w in (8, 16, 32, 64)]
    assert values == sorted(values) and len(set(values)) == 4


def test_madet_stage_weights_must_match_stages():
    with pytest.raises(ForwardScoreError, match="stage weights"):
        madet_units(chain(8), 8, 4, stage_weights=[0, 1])


def test_forward_entropy_matches_eq5_in_expectation():
    # ln std of a plain Gaussian chain ~ sum 1/2 ln(C_in K); with ln(C_out) added this is HomoEntr-like
    for w in (8, 32):
        est = forward_entropy_units(valid_chain(w), 5, 5, batch_size=8, repeats=8, seed=0)
        expected = analytic_three_layer(w) + math.log(w)
        assert abs(est - expected) < 0.05, (w, est, expected)


def test_zen_deterministic_finite_and_grows_with_width():
    vals = [zen_model(ZenNet(w), 3, 8, 4, seed=1) for w in (8, 16, 32)]
    again = zen_model(ZenNet(16), 3, 8, 4, seed=1)
    assert all(math.isfinite(v) for v in vals)
    assert again == vals[1]
    assert vals == sorted(vals) and len(set(vals)) == 3


def test_zen_needs_features():
    with pytest.raises(ForwardScoreError, match="features"):
        zen_model(nn.Conv3d(3, 3, 1), 3, 4, 4)


def test_device_falls_back_to_cpu_without_gpu():
    if torch.cuda.is_available():
        assert resolve_device("cuda").type == "cuda"
    else:
        with pytest.warns(UserWarning):
            assert resolve_device("cuda").type == "cpu"
        assert resolve_device("auto").type == "cpu"
    with pytest.raises(ForwardScoreError):
        resolve_device("tpu")


def test_e3d_stages_are_the_five_madet_stages():
    spec = get_builtin("e3d-s")
    ends = stage_ends_of(spec)
    assert len(ends) == 5  # [stem], [b0], [b1], [b2, b3], [b4, final]
    units = 1 + sum(b.layers for b in spec.blocks) + 1
    assert ends[-1] == units - 1
    assert ends[:3] == [0, spec.blocks[0].layers, spec.blocks[0].layers + spec.blocks[1].layers]


def test_registry_names_and_analytic_scores():
    assert {"stentr", "homoentr", "zen", "madet", "forward"} <= set(registry.names())
    spec = get_builtin("e3d-s")
    assert registry.score("stentr", spec, 160, 13) == pytest.approx(202.8559, abs=1e-3)
    with pytest.raises(E3DError, match="unknown score"):
        registry.get("nope")


def test_an_undefined_score_is_minus_inf_for_a_search_and_nan_for_a_table():
    from e3d.arch.baselines import x3d_scaled

    # X3D-S contracted to the default budget at 32 px x 8: its first stage's 3x3x3 kernel is parallel to its
    # 8 x 8 x 8 map, where STEntr is undefined; HomoEntr is defined
    spec, _ = x3d_scaled(0.018, 32, 8, "depth")
    assert registry.score_or_invalid("stentr", spec) == -math.inf
    assert math.isnan(registry.score_or_nan("stentr", spec))
    assert registry.score_or_nan("homoentr", spec) == registry.score_or_invalid("homoentr", spec) > 0


def test_spec_forward_scores_use_the_builder():
    pytest.importorskip("e3d.models", reason="the PyTorch builder (branch arch) is not merged yet")
    spec = get_builtin("e3d-s")
    for name in ("zen", "madet", "forward"):
        a = registry.score(name, spec, 32, 4, batch_size=1, repeats=1, seed=0, device="cpu")
        b = registry.score(name, spec, 32, 4, batch_size=1, repeats=1, seed=0, device="cpu")
        assert a == b and math.isfinite(a), name
    # the forward estimate of HomoEntr should be near the analytic one (padding lowers it a little)
    fwd = registry.score("forward", spec, 32, 4, batch_size=2, repeats=2, seed=0)
    homo = registry.score("homoentr", spec, 32, 4)
    assert abs(fwd - homo) < 0.1 * homo


def test_search_engine_takes_a_forward_score_from_the_registry(monkeypatch):
    """The engine selects scores by registry name; a forward score is evaluated only for in-budget candidates,
    once per genome, with the search seed. (A cheap stand-in forward score keeps this test fast.)"""
    from e3d.search.engine import SearchConfig, run_search

    calls = []

    def fake(spec, resolution=None, frames=None, *, seed=0, **_):
        calls.append(seed)
        return float(sum(b.out * b.layers for b in spec.blocks))

    monkeypatch.setitem(registry.REGISTRY, "fake-forward", registry.ScoreEntry("fake-forward", "forward", fake, "x"))
    cfg = SearchConfig(max_layers=83, resolution=64, frames=4, iterations=40, population=8, seed=7, budget_gflops=0.2,
                       score="fake-forward", lanes=2, sync_every=10)
    res = run_search(cfg, progress=False)
    assert calls and set(calls) == {7}
    assert res.best[0] == max(e[0] for e in res.population)
    assert res.best[2] <= 0.2e9
