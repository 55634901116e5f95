"""Multi-view evaluation with the tiny in-memory source of test_train and recording stand-in models."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

from e3d.errors import UserError
from e3d.evaluate.load import load_trained
from e3d.evaluate.run import evaluate, flops_label, gflops_per_view
from e3d.evaluate.views import ViewPlan, clip_views, crop_offsets
from e3d.train.loop import train
from e3d.train.settings import TrainSettings
from test_train import BASE, TinyNet, TinySource


class Recorder(nn.Module):
    """Logits = a fixed linear map of per-channel means; remembers every batch it saw."""

    def __init__(self, num_classes=4):
        super().__init__()
        torch.manual_seed(1)
        self.lin = nn.Linear(3 * 2, num_classes)
        self.batches = []

    def forward(self, x):
        self.batches.append(x.clone())
        t = x.shape[2]
        feats = torch.cat([x[:, :, : t // 2].mean(dim=(2, 3, 4)), x[:, :, t // 2 :].mean(dim=(2, 3, 4))], 1)
        return self.lin(feats) * 5


def test_left_center_right_crops_run_along_the_long_axis():
    assert crop_offsets(20, 30, 20, 3) == [(0, 0), (0, 5), (0, 10)]
    assert crop_offsets(30, 20, 20, 3) == [(0, 0), (5, 0), (10, 0)]
    assert crop_offsets(20, 30, 20, 1) == [(0, 5)]
    clip = np.zeros((4, 20, 30, 3), dtype=np.uint8)
    clip[:, :, :10] = 255  # bright left third
    v = clip_views(clip, 16, 3, (0.0,) * 3, (1.0,) * 3)
    assert v.shape == (3, 3, 4, 16, 16)
    assert v[0].mean() > v[1].mean() > v[2].mean()


@pytest.mark.parametrize("mode", ["center", "lcr"])
def test_scores_are_softmax_averages_over_all_views_and_memory_is_bounded_by_the_batch(mode):
    src = TinySource()
    plan = ViewPlan(mode=mode, clips=5, crop=16, frames=4)
    small, big = Recorder(), Recorder()
    r1 = evaluate(small, src, plan, batch_size=2)
    r2 = evaluate(big, src, plan, batch_size=40)
    crops = plan.crops
    assert max(b.shape[0] for b in small.batches) == 2 * crops  # never K x crops at once
    assert sum(b.shape[0] for b in small.batches) == 8 * 5 * crops  # 8 val videos x K clips x crops
    np.testing.assert_allclose(np.stack(r1.scores["scores"]), np.stack(r2.scores["scores"]), rtol=1e-5, atol=1e-6)
    # video 0's score is the mean softmax of exactly its K x crops views (they come first, in order)
    views = torch.cat(big.batches)[: 5 * crops]
    expected = torch.softmax(big.lin(torch.cat([views[:, :, :2].mean(dim=(2, 3, 4)),
                                                views[:, :, 2:].mean(dim=(2, 3, 4))], 1)) * 5, 1).mean(0)
    np.testing.assert_allclose(r2.scores["scores"][0], expected.detach().numpy(), rtol=1e-5, atol=1e-6)
    s = np.stack(r2.scores["scores"])
    np.testing.assert_allclose(s.sum(1), 1.0, rtol=1e-5)
    assert r2.top1 == pytest.approx((s.argmax(1) == r2.scores["label"].to_numpy()).mean())
    assert r2.top5 == 1.0  # 4 classes: the label is always within the top 5
    assert (r2.scores["views"] == 5 * crops).all() and len(r2.scores) == 8


def test_single_frame_control_feeds_one_repeated_frame():
    rec = Recorder()
    evaluate(rec, TinySource(), ViewPlan(clips=2, crop=16, frames=4, single_frame=True), batch_size=4)
    x = torch.cat(rec.batches)
    assert torch.equal(x, x[:, :, :1].expand_as(x))


def test_bad_view_plan_is_a_user_error():
    with pytest.raises(UserError, match="view mode"):
        ViewPlan(mode="five-crop")


def test_trained_model_round_trip_and_flops_label(tmp_path):
    s = TrainSettings.from_dict({**BASE, "epochs": 1})
    res = train(TinySource(), {"kind": "tiny", "width": 8}, s, tmp_path / "out", tmp_path / "state")
    model, ckpt = load_trained(res.model_path)
    assert isinstance(model, TinyNet) and ckpt["num_classes"] == 4
    g = gflops_per_view(model, 4, 16)
    assert g == pytest.approx(16 * 16 * 4 * 8 * 3 * 27 / 1e9 + 8 * 4 / 1e9, rel=1e-6)  # conv + linear MACs
    assert flops_label(g, ViewPlan(mode="lcr", clips=10)) == f"{g:.3g} x 3 x 10"
