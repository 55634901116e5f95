import random

import pytest

from e3d.errors import E3DError

from e3d.arch.builtins import e3d_initial, e3d_s
from e3d.arch.space import FIELDS, SearchSpace, SpaceError, check_genome, parse_kernels, round8


def space(resolution=160, max_layers=83, kernels="1x3x3,1x5x5,3x3x3"):
    return SearchSpace(template=e3d_initial(), resolution=resolution, max_layers=max_layers,
                       kernels=parse_kernels(kernels))


def walk(sp, steps, seed=0):
    rng = random.Random(seed)
    g = sp.genome_from_spec(sp.template)
    out = []
    for _ in range(steps):
        g2 = sp.mutate(g, rng)
        out.append((g, g2))
        if sp.layers_of(g2) <= sp.max_layers:
            g = g2
    return out


def test_round8_is_the_authors_smart_round():
    assert round8(3) == 8 and round8(12) == 16 and round8(20) == 16 and round8(28) == 32  # half to even
    assert round8(24 * 1.25) == 32 and round8(0.1) == 8


@pytest.mark.parametrize("resolution,max_layers", [(160, 83), (312, 167), (64, 60)])
def test_mutation_invariants(resolution, max_layers):
    sp = space(resolution, max_layers)
    cap = max_layers // 3 // 4
    for parent, child in walk(sp, 4000):
        assert check_genome(sp, child) == [], child
        assert child[0] <= 32
        Ls = child[5::FIELDS]
        assert Ls[0] <= 3 and max(Ls[1:]) <= cap
        outs = [child[0]] + list(child[1::FIELDS])
        assert outs == sorted(outs) and max(outs) <= 512  # monotone, last clamped by the final conv
        assert all(o % 8 == 0 and 8 <= o <= 640 for o in outs)
        assert all(b % 8 == 0 and b >= 8 for b in child[2::FIELDS])
        for i, (kt, k) in enumerate(zip(child[3::FIELDS], child[4::FIELDS])):
            # a kernel of the set, or one the shrink rule made smaller for a small feature map
            assert any(kt == skt and k == sp.shrink(i + 1, sk) for skt, sk in [(1, 3), (1, 5), (3, 3)]) or \
                any(kt == skt and k < sk for skt, sk in [(1, 3), (1, 5), (3, 3)]), (kt, k)


def test_at_most_two_units_change_per_step():
    sp = space()
    for parent, child in walk(sp, 2000, seed=3):
        units = [parent[0] != child[0]] + [parent[1 + FIELDS * i: 1 + FIELDS * (i + 1)]
                                            != child[1 + FIELDS * i: 1 + FIELDS * (i + 1)] for i in range(5)]
        assert sum(units) <= 2


def test_out_mutation_keeps_the_expansion_ratio():
    sp = space()
    g = sp.genome_from_spec(e3d_s())
    rng = random.Random(1)
    seen = 0
    for _ in range(500):
        c = sp.mutate_unit(g, 3, rng)
        base = 1 + FIELDS * 2
        if c[base] != g[base] and c[base + 1] != g[base + 1]:
            seen += 1
            ratio = min(sp.btn_ratios, key=lambda r: abs(r - g[base + 1] / g[base]))
            assert c[base + 1] == round8(c[base] * ratio)
    assert seen > 10


def test_kernel_shrink_rule_at_small_resolution():
    sp = space(resolution=32, max_layers=83)
    # input sizes: stem 32, blocks 16, 8, 4, 2, 2 -> k=5 needs 7.5, k=3 needs 4.5
    assert sp.shrink(1, 5) == 5 and sp.shrink(2, 5) == 5 and sp.shrink(3, 5) == 1 and sp.shrink(4, 3) == 1
    for _, child in walk(sp, 2000):
        assert child[4 + FIELDS * 2] == 1 and child[4 + FIELDS * 3] == 1 and child[4 + FIELDS * 4] == 1


def test_restricted_kernel_set_conforms_the_initial_structure():
    sp = space(kernels="1x3x3,3x3x3")
    g = sp.genome_from_spec(sp.template)
    assert (g[3], g[4]) == (1, 3)  # 1x5x5 -> nearest kernel of the set
    for _, child in walk(sp, 1000):
        assert set(zip(child[3::FIELDS], child[4::FIELDS])) <= {(1, 3), (3, 3)}


def test_spec_roundtrip_and_smallest_network():
    sp = space()
    g = sp.genome_from_spec(e3d_s())
    assert sp.spec_from_genome(g, "x").blocks == e3d_s().blocks
    small = sp.smallest_genome()
    assert check_genome(sp, small) == [] and sp.layers_of(small) == 17


def test_bad_space_settings():
    with pytest.raises(E3DError, match="must be odd"):
        parse_kernels("1x4x4")
    with pytest.raises(SpaceError, match="empty"):
        parse_kernels("")
    with pytest.raises(Exception, match="KtxKxK"):
        parse_kernels("3by3")
    with pytest.raises(SpaceError, match="max_layers"):
        space(max_layers=10)
