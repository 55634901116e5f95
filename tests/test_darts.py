"""DARTS-P3D search space, relaxation, discretisation, consensus and the genotype artifact."""

import json

import pytest
import torch
import torch.nn.functional as F

from e3d.artifacts import ArtifactError
from e3d.darts.cells import MixedOp
from e3d.darts.genotype import (Genotype, GenotypeArtifact, GenotypeError, derive_cell, read_genotype,
                                write_genotype)
from e3d.darts.network import SearchNetwork, build_discrete_network
from e3d.darts.ops import DEFAULT_PRIMITIVES, OPS, make_op
from e3d.darts.segments import ClipShapeError, average_consensus, split_segments
from e3d.darts.space import NetworkConfig, SpaceError


@pytest.fixture(autouse=True)
def _one_thread():
    # Tiny convolutions on a shared 2-core machine: extra threads only add contention.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


TINY = NetworkConfig(channels=4, layers=3, steps=2, multiplier=2, segments=2, frames_per_segment=2)


def test_edge_count_and_alpha_shapes():
    net = SearchNetwork(5, NetworkConfig(channels=4, layers=3, steps=4, segments=1, frames_per_segment=2))
    assert net.config.num_edges == 14
    assert net.alphas_normal.shape == (14, len(DEFAULT_PRIMITIVES)) == net.alphas_reduce.shape
    for cell in net.cells:
        assert len(cell._ops) == 14
        assert all(len(edge._ops) == len(DEFAULT_PRIMITIVES) for edge in cell._ops)
    assert [c.reduction for c in net.cells] == [False, True, True]
    assert NetworkConfig(layers=8).reduction_layers == (2, 5)
    # alphas: 1e-3 * randn from the seed, and distinct from the weights
    assert float(net.alphas_normal.detach().abs().max()) < 1e-2
    torch.testing.assert_close(net.alphas_normal, SearchNetwork(5, net.config, alpha_seed=0).alphas_normal)
    assert not torch.equal(net.alphas_normal, SearchNetwork(5, net.config, alpha_seed=1).alphas_normal)
    assert {id(p) for p in net.weights()}.isdisjoint({id(a) for a in net.arch_parameters()})
    assert len(net.weights()) + 2 == len(list(net.parameters()))


@pytest.mark.parametrize("op", ["p3d_conv_3", "max_pool_3x3x3", "avg_pool_1x3x3", "skip_connect", "dil_p3d_conv_3"])
@pytest.mark.parametrize("stride", [1, 2])
def test_mixed_edge_favouring_one_op_equals_it(op, stride):
    torch.manual_seed(0)
    edge = MixedOp(6, stride, DEFAULT_PRIMITIVES).eval()
    x = torch.randn(2, 6, 2, 8, 8)
    alpha = torch.zeros(len(DEFAULT_PRIMITIVES))
    alpha[DEFAULT_PRIMITIVES.index(op)] = 60.0  # softmax weight 1 - O(e^-60)
    out = edge(x, F.softmax(alpha, dim=0))
    expected = edge._ops[DEFAULT_PRIMITIVES.index(op)](x)
    assert out.shape == (2, 6, 2, 8 // stride, 8 // stride)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    # and with uniform weights it is a genuine mixture, not that operation
    uniform = edge(x, torch.full((len(DEFAULT_PRIMITIVES),), 1 / len(DEFAULT_PRIMITIVES)))
    assert not torch.allclose(uniform, expected, atol=1e-3)


def test_every_operation_keeps_shapes_on_short_segments():
    x = torch.randn(1, 4, 2, 9, 9)  # two frames per segment, odd spatial size
    for name in OPS:
        for stride in (1, 2):
            out = make_op(name, 4, stride)(x)
            assert out.shape == (1, 4, 2, 5 if stride == 2 else 9, 5 if stride == 2 else 9), name


def test_p3d_conv_is_spatial_then_temporal():
    op = make_op("p3d_conv_5", 3, 1)
    convs = [m for m in op.modules() if isinstance(m, torch.nn.Conv3d)]
    assert [c.kernel_size for c in convs] == [(1, 5, 5), (5, 1, 1)]
    kinds = [type(m).__name__ for m in op.modules() if type(m).__name__ in ("ReLU", "Conv3d", "BatchNorm3d")]
    assert kinds == ["ReLU", "Conv3d", "BatchNorm3d"] * 2
    dil = [m for m in make_op("dil_p3d_conv_3", 3, 1).modules() if isinstance(m, torch.nn.Conv3d)]
    assert [c.dilation for c in dil] == [(1, 2, 2), (2, 1, 1)]


def _hand_weights(steps, prims, plan):
    """plan: {edge: (op, weight)}; 'none' dominates every edge so derivation must look past it."""
    n_edges = sum(2 + i for i in range(steps))
    w = torch.full((n_edges, len(prims)), 0.01)
    w[:, prims.index("none")] = 0.9
    for edge, (op, value) in plan.items():
        w[edge, prims.index(op)] = value
    return w


def test_hand_set_alphas_derive_expected_cell_never_none():
    prims = DEFAULT_PRIMITIVES
    # steps=3: node0 <- edges 0,1; node1 <- edges 2,3,4; node2 <- edges 5..8
    plan = {0: ("p3d_conv_3", 0.5), 1: ("max_pool_1x3x3", 0.2), 2: ("skip_connect", 0.05),
            3: ("dil_p3d_conv_3", 0.3), 4: ("avg_pool_3x3x3", 0.4), 5: ("p3d_conv_5", 0.02),
            6: ("p3d_conv_3", 0.6), 7: ("max_pool_3x3x3", 0.03), 8: ("skip_connect", 0.7)}
    cell = derive_cell(_hand_weights(3, prims, plan), prims, steps=3)
    assert cell == (("p3d_conv_3", 0), ("max_pool_1x3x3", 1),
                    ("dil_p3d_conv_3", 1), ("avg_pool_3x3x3", 2),
                    ("p3d_conv_3", 1), ("skip_connect", 3))
    # all-'none' edges still yield real operations
    w = torch.zeros(5, len(prims))
    w[:, prims.index("none")] = 1.0
    assert all(op != "none" for op, _ in derive_cell(w, prims, steps=2))


def test_search_network_genotype_builds_and_never_none():
    net = SearchNetwork(3, TINY, alpha_seed=3)
    with torch.no_grad():
        net.alphas_normal[:, TINY.primitives.index("none")] = 10.0
    g = net.genotype()
    assert all(op != "none" for op, _ in g.normal + g.reduce)
    model = build_discrete_network(g, 3, TINY)
    assert model(torch.randn(2, 3, 4, 16, 16)).shape == (2, 3)


def test_consensus_over_identical_segments_equals_one_segment():
    torch.manual_seed(0)
    g = SearchNetwork(4, TINY).genotype()
    one = build_discrete_network(g, 4, TINY, segments=1).eval()
    four = build_discrete_network(g, 4, TINY, segments=4).eval()
    four.load_state_dict(one.state_dict())
    clip = torch.randn(3, 3, 2, 16, 16)
    torch.testing.assert_close(four(clip.repeat(1, 1, 4, 1, 1)), one(clip))
    # and the consensus is the mean of the segments' logits
    logits = torch.randn(6, 5)
    torch.testing.assert_close(average_consensus(logits, 3), logits.view(2, 3, 5).mean(1))


def test_split_segments_layout_and_errors():
    x = torch.arange(2 * 1 * 6).float().view(2, 1, 6, 1, 1)
    parts = split_segments(x, 3, 2)
    assert parts.shape == (6, 1, 2, 1, 1)
    assert parts[:, 0, :, 0, 0].tolist() == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9], [10, 11]]
    with pytest.raises(ClipShapeError, match="4 x 2"):
        build_discrete_network(SearchNetwork(2, TINY).genotype(), 2, TINY, segments=4)(torch.randn(1, 3, 6, 8, 8))


def test_genotype_artifact_roundtrip_and_rebuild(tmp_path):
    net = SearchNetwork(7, TINY, alpha_seed=1)
    art = GenotypeArtifact(net.genotype(), TINY, 7, {"order": "first", "alphas": net.alpha_weights()})
    path = write_genotype(tmp_path / "genotype.json", art, config={"x": 1}, code_modules=("darts",))
    doc = json.loads(path.read_text())
    assert doc["provenance"]["schema"] == "e3d.darts_genotype" and doc["provenance"]["schema_version"] == 1
    back = read_genotype(path)
    assert back.genotype == art.genotype and back.network == TINY and back.num_classes == 7
    wide = build_discrete_network(back.genotype, back.num_classes, back.network, channels=8, layers=4)
    assert wide.config.channels == 8 and len(wide.cells) == 4
    assert wide(torch.randn(1, 3, 4, 16, 16)).shape == (1, 7)
    # a damaged artifact names the file and the problem
    doc["genotype"]["normal"][0][0] = "none"
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    with pytest.raises(GenotypeError, match="bad.json.*'none'"):
        read_genotype(tmp_path / "bad.json")
    doc["provenance"]["schema"] = "e3d.arch"
    (tmp_path / "other.json").write_text(json.dumps(doc))
    with pytest.raises(ArtifactError, match="e3d.darts_genotype"):
        read_genotype(tmp_path / "other.json")


def test_bad_shapes_and_genotypes_raise_clear_errors():
    with pytest.raises(SpaceError, match="network.channels"):
        NetworkConfig(channels=0)
    with pytest.raises(Exception, match="unknown operation"):
        NetworkConfig(primitives=("none", "conv_7x7"))
    with pytest.raises(GenotypeError, match="cannot take input state 3"):
        Genotype(normal=(("skip_connect", 0), ("skip_connect", 3)), normal_concat=(2,),
                 reduce=(("skip_connect", 0), ("skip_connect", 1)), reduce_concat=(2,))


def test_discrete_network_drop_path_only_in_training():
    torch.manual_seed(0)
    model = build_discrete_network(SearchNetwork(3, TINY).genotype(), 3, TINY, drop_path_prob=0.5)
    x = torch.randn(2, 3, 4, 16, 16)
    model.eval()
    torch.testing.assert_close(model(x), model(x))
    assert model.drop_path_prob == 0.5


def test_segment_indices_one_snippet_per_segment():
    import numpy as np

    from e3d.darts.data import split_halves, VideoRow
    from e3d.data.sampling import segment_indices

    centre = segment_indices(40, 4, 2, 1, train=False)
    assert centre.tolist() == [4, 5, 14, 15, 24, 25, 34, 35]  # centred in [0,10), [10,20), ...
    rng = np.random.default_rng(0)
    for _ in range(20):
        idx = segment_indices(40, 4, 2, 2, train=True, rng=rng).reshape(4, 2)
        assert all(10 * k <= a < 10 * (k + 1) and b - a == 2 for k, (a, b) in enumerate(idx))
    assert segment_indices(3, 4, 2, 1, train=False).max() < 3  # shorter than K segments: frames repeat
    videos = [VideoRow(f"v{i}", i % 3, 10) for i in range(12)]
    a, b = split_halves(videos, 0.5, seed=0)
    assert not {v.video_id for v in a} & {v.video_id for v in b} and len(a) + len(b) == 12
    assert {v.label for v in a} == {v.label for v in b} == {0, 1, 2}
    assert split_halves(videos, 0.5, seed=0) == (a, b)
