"""Measured cost of SGS networks (fvcore on the shapes that really flow) and the B' histogram helper."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from e3d.sgs import SimilarityGuidedSampling, active_bins_histogram, clip_cost, find_sgs, flops_by_width, flops_of_clip, measure_clips
from e3d.sgs.cost import _fvcore_total

T, H, C1, C2 = 8, 16, 8, 12


def toy_halves(num_bins: int = T) -> tuple[nn.Module, SimilarityGuidedSampling, nn.Module]:
    """A tiny 3D CNN split in two: the part before SGS runs at T frames, the part after at B'."""
    torch.manual_seed(0)
    pre = nn.Sequential(nn.Conv3d(3, C1, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)), nn.BatchNorm3d(C1), nn.ReLU())
    post_convs = nn.Sequential(nn.Conv3d(C1, C2, 3, padding=1), nn.BatchNorm3d(C2), nn.ReLU(),
                               nn.Conv3d(C2, C2, (3, 1, 1), padding=(1, 0, 0)))
    post = nn.Sequential(post_convs, nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(C2, 5))
    return pre, SimilarityGuidedSampling(C1, num_bins), post


def toy_network(num_bins: int = T) -> nn.Sequential:
    pre, sgs, post = toy_halves(num_bins)
    return nn.Sequential(pre, sgs, post).eval()


def clips(n: int, static: int, seed: int = 1) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    out = [torch.randn(3, T, H, H, generator=gen) for _ in range(n - static)]
    out += [torch.randn(3, 1, H, H, generator=gen).expand(3, T, H, H).contiguous() for _ in range(static)]
    return out


def test_flops_after_the_module_scale_with_active_bins_over_frames():
    _, _, post = toy_halves()
    convs = post[0].eval()
    full = _fvcore_total(convs, torch.randn(1, C1, T, H // 2, H // 2))
    for width in range(1, T + 1):
        part = _fvcore_total(convs, torch.randn(1, C1, width, H // 2, H // 2))
        assert part * T == full * width  # exactly proportional: every layer after SGS is per frame


def test_rest_of_network_runs_on_active_bins():
    net = toy_network()
    seen: list[int] = []
    net[2].register_forward_pre_hook(lambda m, args: seen.append(args[0].shape[2]))
    batch = torch.stack(clips(4, static=2))
    net(batch)
    counts = find_sgs(net).last.counts
    assert counts[2:].tolist() == [1, 1] and seen == [int(counts.max())]
    for clip in batch:
        net(clip[None])
        assert seen[-1] == int(find_sgs(net).last.counts[0])


def test_flops_table_matches_tracing_each_clip_alone_and_is_affine_in_active_bins():
    net = toy_network()
    table = flops_by_width(net, (3, T, H, H), range(1, T + 1))
    steps = [table[w + 1] - table[w] for w in range(1, T)]
    assert max(steps) == min(steps) > 0  # affine: SGS matmul and post layers per bin, head constant
    for clip in clips(5, static=2, seed=2):
        net(clip[None])
        assert flops_of_clip(net, clip) == table[int(find_sgs(net).last.counts[0])]


def test_measure_clips_summary():
    net = toy_network()
    cost = measure_clips(net, clips(7, static=3), batch_size=3)
    assert cost.counts.shape == (7,) and (cost.counts[4:] == 1).all()
    assert sum(cost.histogram.values()) == 7 and list(cost.histogram) == list(range(1, T + 1))
    assert cost.histogram[1] >= 3
    table = flops_by_width(net, (3, T, H, H), [T, 1])
    assert cost.full_gflops == pytest.approx(table[T] / 1e9, rel=1e-12)
    assert cost.gflops[-1] == pytest.approx(table[1] / 1e9, rel=1e-12)
    expected_mean = sum(cost.per_width[b] * k for b, k in cost.histogram.items() if k) / 7
    summary = cost.summary()
    assert summary["gflops_mean"] == pytest.approx(expected_mean, rel=1e-12)
    assert summary["gflops_min"] <= summary["gflops_median"] <= summary["gflops_max"] <= cost.full_gflops
    assert summary["ratio_to_full"] < 1
    assert summary["active_bins_histogram"]["1"] == cost.histogram[1]


def test_clip_cost_from_recorded_counts_rejects_out_of_range():
    net = toy_network(num_bins=4)
    cost = clip_cost(net, torch.tensor([1, 2, 2, 4]), (3, T, H, H))
    assert cost.histogram == {1: 1, 2: 2, 3: 0, 4: 1}
    with pytest.raises(ValueError, match="outside"):
        clip_cost(net, [5], (3, T, H, H))


def test_active_bins_histogram():
    assert active_bins_histogram([3, 1, 3]) == {1: 1, 3: 2}
    assert active_bins_histogram(torch.tensor([[3, 1], [3, 3]]), 4) == {1: 1, 2: 0, 3: 3, 4: 0}
    with pytest.raises(ValueError, match="outside 1..4"):
        active_bins_histogram([0, 5], 4)


def test_sgs_layer_counts_its_weighted_sum_per_output_bin():
    _, sgs, _ = toy_halves()
    sgs.eval()
    x = torch.randn(1, C1, T, 5, 5)
    counts = {}
    for width in (1, 2, 5):
        with sgs.forced_width(width):
            counts[width] = _fvcore_total(sgs, x)
    # one multiply-add per (channel, output bin, input frame, pixel); the embedding does not depend on B'
    assert counts[2] - counts[1] == C1 * T * 25
    assert counts[5] - counts[2] == 3 * C1 * T * 25
