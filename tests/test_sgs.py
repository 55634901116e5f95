"""Similarity Guided Sampling: the reference's worked example and the properties listed in issue 9."""

from __future__ import annotations

import math

import pytest
import torch

from e3d.sgs import SGSConfig, SGSConfigError, SimilarityGuidedSampling
from e3d.sgs.sampling import (
    KERNEL_EPS,
    distance_to_mean,
    normalise_weights,
    pack_bins,
    sample_from_distances,
    scale_distances,
    triangular_weights,
)

F64 = torch.float64


def _kernel_value(scaled: float, centre: float) -> float:
    return max(0.0, 1.0 + KERNEL_EPS - abs(scaled - centre))


# ---------------------------------------------------------------- worked example (reference, exact)
def test_worked_example_reproduces_exactly():
    delta = torch.tensor([[0.1, 0.2, 0.9, 1.0]], dtype=F64)
    scaled = scale_distances(delta, 4)
    torch.testing.assert_close(scaled, torch.tensor([[0.8, 1.6, 7.2, 8.0]], dtype=F64), rtol=0, atol=1e-15)

    features = torch.randn(1, 3, 4, 2, 2, dtype=F64, generator=torch.Generator().manual_seed(0))
    out, packed = sample_from_distances(features, delta, 4)
    assert packed.counts.tolist() == [2]
    assert out.shape == (1, 3, 2, 2, 2)
    # exact kernel values: psi = 1 + 1e-7 - |delta' - c|; the reference rounds 0.8 + 1e-7 to 0.8
    w00, w01 = _kernel_value(0.8, 1.0), _kernel_value(1.6, 1.0)
    w12, w13 = _kernel_value(7.2, 7.0), _kernel_value(8.0, 7.0)
    expected_weights = torch.tensor([[[w00, w01, 0.0, 0.0], [0.0, 0.0, w12, w13]]], dtype=F64)
    torch.testing.assert_close(packed.weights, expected_weights, rtol=0, atol=1e-15)
    assert abs(w13 - 1e-7) < 1e-15 and abs(w00 - 0.8) < 2e-7 and abs(w01 - 0.4) < 2e-7
    i = features[0]
    torch.testing.assert_close(out[0, :, 0], 0.8 * i[:, 0] + 0.4 * i[:, 1], rtol=0, atol=1e-6)
    torch.testing.assert_close(out[0, :, 1], 0.8 * i[:, 2] + 1e-7 * i[:, 3], rtol=0, atol=1e-6)
    torch.testing.assert_close(out[0, :, 0], w00 * i[:, 0] + w01 * i[:, 1], rtol=0, atol=1e-14)
    torch.testing.assert_close(out[0, :, 1], w12 * i[:, 2] + w13 * i[:, 3], rtol=0, atol=1e-14)


def test_worked_example_in_float32_keeps_the_tiny_weight():
    delta = torch.tensor([[0.1, 0.2, 0.9, 1.0]])
    _, packed = sample_from_distances(torch.ones(1, 1, 4, 1, 1), delta, 4)
    assert packed.counts.tolist() == [2]
    tiny = packed.weights[0, 1, 3].item()
    assert 0 < tiny < 2e-7  # 1 + 1e-7 rounds to 1 + 2^-23 in float32


# ---------------------------------------------------------------- degenerate and grouped clips
@pytest.mark.parametrize("distance", ["l2", "l1", "cosine"])
@pytest.mark.parametrize("training", [True, False])
def test_identical_frames_give_one_bin_without_nan(distance, training):
    torch.manual_seed(1)
    sgs = SimilarityGuidedSampling(12, 8, distance=distance).train(training)
    frame = torch.randn(3, 12, 1, 5, 5)
    x = frame.expand(3, 12, 8, 5, 5).contiguous().requires_grad_()
    out = sgs(x)
    assert out.shape == (3, 12, 1, 5, 5)
    assert sgs.last.counts.tolist() == [1, 1, 1]
    assert torch.isfinite(out).all()
    # the whole clip lands on the first centre: weight 1 + 1e-7 per frame
    torch.testing.assert_close(out[:, :, 0], frame[:, :, 0] * 8 * (1 + KERNEL_EPS), rtol=1e-5, atol=1e-5)
    out.square().sum().backward()
    assert torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in sgs.parameters() if p.grad is not None)


def test_zero_distances_fed_directly_give_one_bin():
    out, packed = sample_from_distances(torch.randn(2, 3, 5, 2, 2), torch.zeros(2, 5), 5)
    assert packed.counts.tolist() == [1, 1] and torch.isfinite(out).all()


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_well_separated_groups_fed_as_distances_give_at_most_k_bins(k):
    gen = torch.Generator().manual_seed(k)
    for _ in range(50):
        centres = torch.rand(k, generator=gen, dtype=F64) * 10 + 0.1
        groups = torch.randint(0, k, (16,), generator=gen)
        groups[:k] = torch.arange(k)  # every group present
        delta = centres[groups] * (1 + 1e-9 * torch.randn(16, generator=gen, dtype=F64))
        _, packed = sample_from_distances(torch.randn(1, 2, 16, 1, 1, dtype=F64), delta[None], 16)
        assert 1 <= packed.counts.item() <= k


def test_groups_in_distinct_bins_give_exactly_k_bins():
    # delta' = [0.9, 2.9, 5.1, 8.0] * 1 for B = 4 -> bins 1, 2, 3, 4; frames repeated in groups
    delta = torch.tensor([0.9, 0.9, 2.9, 5.1, 5.1, 5.1, 8.0], dtype=F64) / 8.0
    _, packed = sample_from_distances(torch.randn(1, 2, 7, 1, 1, dtype=F64), delta[None], 4)
    assert packed.counts.tolist() == [4]
    delta = torch.tensor([0.9, 0.9, 5.1, 5.1, 8.0], dtype=F64) / 8.0
    _, packed = sample_from_distances(torch.randn(1, 2, 5, 1, 1, dtype=F64), delta[None], 4)
    assert packed.counts.tolist() == [3]


def test_tie_on_an_interior_boundary_two_bins_for_authors_kernel_one_for_nearest():
    # two groups split 4/8 over T = 12 with B = 12: the small group's frames sit at delta' = 12 exactly
    delta = torch.tensor([[2.0] * 8 + [1.0] * 4], dtype=F64)
    feats = torch.randn(1, 2, 12, 1, 1, dtype=F64)
    _, both = sample_from_distances(feats, delta, 12, boundary="both")
    _, nearest = sample_from_distances(feats, delta, 12, boundary="nearest")
    assert both.counts.tolist() == [3]  # bins with centres 11 and 13 (weight 1e-7 each) + bin 12
    assert nearest.counts.tolist() == [2]
    torch.testing.assert_close(nearest.weights[0, 0, 8:], torch.full((4,), KERNEL_EPS, dtype=F64), rtol=1e-9, atol=0)


@pytest.mark.parametrize("k", [2, 3])
def test_clips_made_of_k_repeated_frames_give_at_most_k_bins(k):
    torch.manual_seed(10 + k)
    sgs = SimilarityGuidedSampling(8, 12).eval()
    for _ in range(10):
        frames = torch.randn(2, 8, k, 4, 4) * 3
        index = torch.randint(0, k, (12,))
        index[:k] = torch.arange(k)
        out = sgs(frames[:, :, index])
        assert (sgs.last.counts <= k).all() and (sgs.last.counts >= 1).all()
        assert out.shape[2] == int(sgs.last.counts.max())


# ---------------------------------------------------------------- weights
def _random_scaled(gen, n=64, t=16, num_bins=8):
    delta = torch.rand(n, t, generator=gen, dtype=F64)
    scaled = scale_distances(delta, num_bins)
    # plant the special points: 0, every interior even integer, 2B, and points 5e-8 off an even integer
    planted = torch.tensor([0.0, 2.0, 4.0, 6.0 + 5e-8, 8.0 - 5e-8, 16.0, 14.0, 1.0], dtype=F64)
    scaled[0, : planted.numel()] = planted
    return scaled


def test_authors_kernel_weights_and_when_a_frame_touches_two_bins():
    """Authors' kernel: weights in [0, 1 + 1e-7]; a frame touches two bins iff |delta' - 2k| < 1e-7 for
    an interior even 2k, and then both weights are < 2e-7; otherwise exactly one bin."""
    num_bins = 8
    scaled = _random_scaled(torch.Generator().manual_seed(3), num_bins=num_bins)
    psi = triangular_weights(scaled, num_bins, boundary="both")
    assert psi.min() >= 0 and psi.max() <= 1 + KERNEL_EPS
    touched = (psi > 0).sum(dim=1)
    even = torch.round(scaled / 2) * 2
    on_edge = ((scaled - even).abs() < KERNEL_EPS) & (even > 0) & (even < 2 * num_bins)
    assert on_edge.sum() == 5  # the planted 2, 4, 6 + 5e-8, 8 - 5e-8 and 14
    assert (touched[on_edge] == 2).all()
    assert (touched[~on_edge] == 1).all()
    assert (psi.transpose(1, 2)[on_edge] < 2 * KERNEL_EPS).all()


def test_exact_even_integer_14_also_touches_two_bins():
    psi = triangular_weights(torch.tensor([[14.0, 16.0]], dtype=F64), 8, boundary="both")
    assert (psi[0, :, 0] > 0).nonzero().flatten().tolist() == [6, 7]
    assert (psi[0, :, 1] > 0).nonzero().flatten().tolist() == [7]  # 2B: only the last bin exists


@pytest.mark.parametrize("kernel_norm", ["none", "frame", "bin"])
def test_nearest_kernel_every_frame_in_exactly_one_bin_weights_in_unit_interval(kernel_norm):
    num_bins = 8
    scaled = _random_scaled(torch.Generator().manual_seed(4), num_bins=num_bins)
    psi = normalise_weights(triangular_weights(scaled, num_bins, boundary="nearest"), kernel_norm)
    assert psi.min() >= 0
    # authors' normalisation: at most 1 + 1e-7 (a frame exactly on a centre); normalised: at most 1
    assert psi.max() <= (1 + KERNEL_EPS if kernel_norm == "none" else 1 + 1e-12)
    assert ((psi > 0).sum(dim=1) == 1).all()
    if kernel_norm == "frame":
        torch.testing.assert_close(psi.sum(dim=1), torch.ones_like(scaled))
    if kernel_norm == "bin":
        sums = psi.sum(dim=2)
        torch.testing.assert_close(sums[sums > 0], torch.ones_like(sums[sums > 0]))
    # nearest selection agrees with the authors' kernel wherever the latter is unambiguous
    both = triangular_weights(scaled, num_bins, boundary="both")
    single = (both > 0).sum(dim=1) == 1
    raw = triangular_weights(scaled, num_bins, boundary="nearest")
    torch.testing.assert_close(raw.transpose(1, 2)[single], both.transpose(1, 2)[single], rtol=0, atol=0)


def test_kernel_subgradient_is_plus_minus_one_inside_zero_outside():
    num_bins = 4
    points = torch.tensor([[0.3, 1.0, 1.7, 2.5, 3.0, 4.9, 6.2, 7.5]], dtype=F64, requires_grad=True)
    psi = triangular_weights(points, num_bins, boundary="both")
    centres = torch.tensor([1.0, 3.0, 5.0, 7.0], dtype=F64)
    for b in range(num_bins):
        (grad,) = torch.autograd.grad(psi[0, b].sum(), points, retain_graph=True)
        diff = points.detach()[0] - centres[b]
        inside = diff.abs() < 1 + KERNEL_EPS
        expected = torch.where(inside, -torch.sign(diff), torch.zeros_like(diff))
        torch.testing.assert_close(grad[0], expected, rtol=0, atol=0)


def test_frame_normalisation_blocks_gradient_to_distances():
    delta = torch.tensor([[0.13, 0.41, 0.58, 0.77, 1.0]], dtype=F64, requires_grad=True)
    feats = torch.randn(1, 2, 5, 3, 3, dtype=F64)
    out, _ = sample_from_distances(feats, delta, 5, kernel_norm="frame")
    (grad,) = torch.autograd.grad(out.square().sum(), delta)
    assert grad.abs().max() < 1e-10  # psi / psi: zero up to rounding
    out, _ = sample_from_distances(feats, delta, 5, kernel_norm="none")
    (grad,) = torch.autograd.grad(out.square().sum(), delta)
    assert grad.abs().max() > 1e-2


# ---------------------------------------------------------------- invariances
@pytest.mark.parametrize("factor", [1e-3, 0.37, 3.0, 2.5e4])
def test_scale_invariance_of_delta(factor):
    delta = torch.rand(8, 12, generator=torch.Generator().manual_seed(5), dtype=F64) + 0.01
    for boundary in ("nearest", "both"):
        a = triangular_weights(scale_distances(delta, 12), 12, boundary)
        b = triangular_weights(scale_distances(delta * factor, 12), 12, boundary)
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("distance", ["l2", "l1", "cosine"])
def test_invariance_to_temporal_permutation(training, distance):
    torch.manual_seed(6)
    sgs = SimilarityGuidedSampling(6, 10, distance=distance).double()
    sgs.eval()
    sgs.bn.running_mean.normal_()
    sgs.bn.running_var.uniform_(0.5, 2.0)
    sgs.train(training)
    x = torch.randn(3, 6, 10, 4, 4, dtype=F64)
    perm = torch.randperm(10)
    out = sgs(x)
    counts = sgs.last.counts.clone()
    out_perm = sgs(x[:, :, perm])
    assert torch.equal(counts, sgs.last.counts)
    torch.testing.assert_close(out_perm, out, rtol=1e-9, atol=1e-12)


def test_distance_computed_over_embedding_axis():
    z = torch.tensor([[[3.0, 4.0], [-3.0, -4.0]]], dtype=F64)  # mean 0
    torch.testing.assert_close(distance_to_mean(z, "l2"), torch.tensor([[5.0, 5.0]], dtype=F64))
    torch.testing.assert_close(distance_to_mean(z, "l1"), torch.tensor([[7.0, 7.0]], dtype=F64))
    z = torch.tensor([[[1.0, 0.0], [1.0, 2.0]]], dtype=F64)  # mean (1, 1)
    expected = 1 - torch.tensor([[1 / math.sqrt(2), (1 + 2) / (math.sqrt(5) * math.sqrt(2))]], dtype=F64)
    torch.testing.assert_close(distance_to_mean(z, "cosine"), expected)


# ---------------------------------------------------------------- shapes, packing, padding, mask
@pytest.mark.parametrize("num_bins,frames", [(8, 8), (4, 12), (12, 5), (1, 6)])
@pytest.mark.parametrize("drop", [True, False])
def test_output_shape_and_bin_count_bounds(num_bins, frames, drop):
    torch.manual_seed(num_bins * 100 + frames)
    sgs = SimilarityGuidedSampling(5, num_bins, drop_empty_bins=drop)
    x = torch.randn(4, 5, frames, 3, 2)
    out = sgs(x)
    width = out.shape[2]
    assert out.shape == (4, 5, width, 3, 2)
    if drop:
        assert 1 <= width <= min(num_bins, frames)
        assert width == int(sgs.last.counts.max())
        assert (sgs.last.counts <= min(num_bins, frames)).all()
    else:
        assert width == num_bins and sgs.last.counts.tolist() == [num_bins] * 4
        assert sgs.last.mask.all()


def test_padded_rows_are_zero_and_mask_matches_nonempty_bins():
    gen = torch.Generator().manual_seed(7)
    feats = torch.randn(4, 3, 9, 2, 2, generator=gen, dtype=F64)
    delta = torch.rand(4, 9, generator=gen, dtype=F64)
    delta[1] = 0.0  # one bin
    delta[2] = torch.tensor([0.1, 0.1, 0.1, 0.1, 1.0, 1.0, 1.0, 1.0, 1.0], dtype=F64)  # two bins
    out, packed = sample_from_distances(feats, delta, 9)
    psi = triangular_weights(scale_distances(delta, 9), 9)
    nonempty = psi.sum(dim=2) > 0
    assert packed.counts.tolist() == nonempty.sum(dim=1).tolist()
    assert packed.counts[1] == 1 and packed.counts[2] == 2
    width = packed.width
    assert width == int(nonempty.sum(dim=1).max())
    assert torch.equal(packed.mask, torch.arange(width)[None] < packed.counts[:, None])
    for n in range(4):
        count = int(packed.counts[n])
        assert torch.count_nonzero(out[n, :, count:]) == 0
        assert torch.count_nonzero(packed.weights[n, count:]) == 0
        # the real rows are the non-empty bins, in centre order (the order of delta, not of time)
        torch.testing.assert_close(packed.weights[n, :count], psi[n][nonempty[n]], rtol=0, atol=0)
        expected = torch.einsum("bt,cthw->cbhw", psi[n][nonempty[n]], feats[n])
        torch.testing.assert_close(out[n, :, :count], expected, rtol=1e-12, atol=1e-12)


def test_forced_width_pads_or_truncates():
    psi = triangular_weights(scale_distances(torch.tensor([[0.1, 0.5, 1.0]]), 3), 3)
    natural = pack_bins(psi)
    padded = pack_bins(psi, force_width=3)
    assert padded.width == 3 and torch.equal(padded.weights[:, : natural.width], natural.weights)
    assert torch.count_nonzero(padded.weights[:, natural.width:]) == 0
    assert pack_bins(psi, force_width=1).weights.shape == (1, 1, 3)


# ---------------------------------------------------------------- gradients
def _away_from_kinks(scaled: torch.Tensor, margin: float = 1e-3) -> bool:
    """Kinks of the kernel: centres (odd integers) and support edges (even integers +- 1e-7); the
    farthest frame sits on 2B by construction and stays there under perturbation."""
    inner = scaled[scaled < scaled.max(dim=1, keepdim=True).values]
    return bool(((inner - torch.round(inner)).abs() > margin).all())


@pytest.mark.parametrize("kernel_norm", ["none", "bin"])
def test_gradcheck_core_away_from_kinks(kernel_norm):
    gen = torch.Generator().manual_seed(8)
    delta = torch.tensor([[0.07, 0.33, 0.52, 0.61, 0.88, 1.0], [0.26, 0.45, 1.0, 0.71, 0.13, 0.95]], dtype=F64)
    assert _away_from_kinks(scale_distances(delta, 4))
    feats = torch.randn(2, 2, 6, 2, 2, generator=gen, dtype=F64)
    fn = lambda f, d: sample_from_distances(f, d, 4, kernel_norm=kernel_norm)[0]  # noqa: E731
    assert torch.autograd.gradcheck(fn, (feats.requires_grad_(), delta.requires_grad_()), eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("distance", ["l2", "l1", "cosine"])
def test_gradcheck_module_away_from_kinks(distance):
    for seed in range(20):
        torch.manual_seed(seed)
        sgs = SimilarityGuidedSampling(4, 5, embed_dim=3, distance=distance).double().eval()
        x = torch.randn(2, 4, 5, 2, 2, dtype=F64)
        with torch.no_grad():
            scaled = scale_distances(distance_to_mean(sgs.embed(x), distance), 5)
        if _away_from_kinks(scaled, margin=1e-2):
            break
    else:
        pytest.fail("no seed gave distances away from the kernel's kinks")
    params = [p for p in sgs.parameters()]

    def fn(inp, *weights):
        with torch.nn.utils.stateless._reparametrize_module(sgs, dict(zip([n for n, _ in sgs.named_parameters()], weights))):
            return sgs(inp)

    assert torch.autograd.gradcheck(fn, (x.requires_grad_(), *[p.detach().clone().requires_grad_() for p in params]),
                                    eps=1e-6, atol=1e-5, fast_mode=True)


def test_half_precision_features_use_float32_distances():
    torch.manual_seed(9)
    sgs = SimilarityGuidedSampling(6, 8).eval()
    x = torch.randn(2, 6, 8, 3, 3)
    out = sgs.to(torch.bfloat16)(x.to(torch.bfloat16))
    assert out.dtype == torch.bfloat16 and sgs.last.weights.dtype == torch.float32
    assert out.shape[2] == int(sgs.last.counts.max()) and torch.isfinite(out.float()).all()
    # a static clip is still one bin: the noise floor is that of float32, not of bfloat16's 8-bit mantissa
    sgs(torch.randn(1, 6, 1, 3, 3).expand(1, 6, 8, 3, 3).to(torch.bfloat16))
    assert sgs.last.counts.tolist() == [1]


# ---------------------------------------------------------------- config
def test_config_validation_names_the_key():
    assert SGSConfig.from_dict({"num_bins": 6, "distance": "l1"}).bins_for(13) == 6
    assert SGSConfig().bins_for(13) == 13
    for bad, key in [({"num_bins": 0}, "num_bins"), ({"distance": "l3"}, "distance"), ({"kernel_norm": "x"}, "kernel_norm"),
                     ({"stage": -2}, "stage"), ({"boundary": "x"}, "boundary"), ({"drop_empty_bins": 1}, "drop_empty_bins"),
                     ({"bins": 3}, "unknown")]:
        with pytest.raises(SGSConfigError, match=key):
            SGSConfig.from_dict(bad)
