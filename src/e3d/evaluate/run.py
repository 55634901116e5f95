"""Evaluate a trained model on a split: every (video, clip) item yields its crops; softmax scores of all
views of a video are summed and divided by the number of views. Items stream through a DataLoader in
batches of `batch_size` clips, so memory is bounded by the batch size whatever K is."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn as nn

from e3d.evaluate.views import ViewPlan, clip_frame_indices, clip_views
from e3d.progress import Progress
from e3d.train.clips import ClipSource, frame_size_of, split_rows


class EvalClips(torch.utils.data.Dataset):
    def __init__(self, source: ClipSource, rows: pd.DataFrame, plan: ViewPlan, mean, std, sampler=None):
        self.source, self.plan, self.mean, self.std, self.sampler = source, plan, mean, std, sampler
        self._frame_size = frame_size_of(source)
        self.ids = rows["video_id"].astype(str).tolist()
        self.frames = rows["num_frames"].astype(int).tolist()

    def __len__(self) -> int:
        return len(self.ids) * self.plan.clips

    def __getitem__(self, item: int) -> tuple[torch.Tensor, int]:
        row, k = divmod(item, self.plan.clips)
        idx = clip_frame_indices(self.frames[row], self.plan, self.sampler)[k]
        if self.plan.single_frame:
            one = self.source.read_clip(self.ids[row], idx[:1])
            clip = np.repeat(one, self.plan.frames, axis=0)
        else:
            clip = self.source.read_clip(self.ids[row], idx)
        size = self._frame_size(self.ids[row]) if self._frame_size is not None else None
        return clip_views(clip, self.plan.crop, self.plan.crops, self.mean, self.std, size), row


@dataclass
class EvalResult:
    scores: pd.DataFrame  # one row per video
    top1: float
    top5: float
    extras: dict[str, Any] = field(default_factory=dict)  # model_source.collect_metrics after the pass


@torch.no_grad()
def evaluate(
    model: nn.Module,
    source: ClipSource,
    plan: ViewPlan,
    *,
    split: str = "val",
    batch_size: int = 8,
    mean=(0.45, 0.45, 0.45),
    std=(0.225, 0.225, 0.225),
    device: torch.device | str = "cpu",
    num_workers: int = 0,
    class_names: list[str] | None = None,
    sampler: Any = None,
) -> EvalResult:
    from e3d.train import model_source

    rows = split_rows(source, split)
    data = EvalClips(source, rows, plan, mean, std, sampler)
    loader = torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    device = torch.device(device)
    model = model.to(device).eval()
    num_classes = int(source.num_classes)
    sums = np.zeros((len(rows), num_classes), dtype=np.float64)
    model_source.reset_metrics(model)  # only this pass's views count (e.g. SGS's per-view B')
    with Progress(total=len(data), desc=f"evaluate {plan.describe()}", unit="clip") as bar:
        for views, row in loader:
            b, c = views.shape[:2]
            x = views.flatten(0, 1).to(device)  # [B*crops, 3, T, H, W]
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
                logits = model(x)
            probs = torch.softmax(logits.float(), dim=1).view(b, c, -1).sum(1).cpu().double().numpy()
            np.add.at(sums, row.numpy(), probs)
            bar.update(b)
    scores = sums / (plan.clips * plan.crops)
    labels = rows["label"].astype(int).to_numpy()
    k = min(5, num_classes)
    topk = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    top1 = topk[:, 0] == labels
    top5 = (topk == labels[:, None]).any(axis=1)
    names = class_names or [str(i) for i in range(num_classes)]
    df = pd.DataFrame({
        "video_id": rows["video_id"].astype(str),
        "label": labels,
        "label_name": [names[i] for i in labels],
        "pred": topk[:, 0],
        "pred_name": [names[i] for i in topk[:, 0]],
        "correct_top1": top1,
        "correct_top5": top5,
        "views": plan.clips * plan.crops,
        "scores": [s.astype(np.float32) for s in scores],
    })
    extras = model_source.collect_metrics(model, input_shape=(3, plan.frames, plan.crop, plan.crop), training=False)
    return EvalResult(df, float(top1.mean()), float(top5.mean()), extras)


def gflops_per_view(model: nn.Module, frames: int, crop: int) -> float:
    """fvcore's conv/linear multiply-adds (BatchNorm excluded, eval mode) for one view, in GFLOPs, the
    convention of the X3D and E3D papers (e3d.models.flops: fvcore 0.1.5 keeps counting BN after
    set_op_handle(..., None), which had put X3D-M at 4.90 G here instead of its 4.73)."""
    from e3d.models.flops import fvcore_counts

    model = model.to("cpu")
    return fvcore_counts(model, torch.zeros(1, 3, frames, crop, crop), full=False)["conv_macs"] / 1e9


def flops_label(gflops: float, plan: ViewPlan) -> str:
    return f"{gflops:.3g} x {plan.crops} x {plan.clips}"


def summary(result: EvalResult, plan: ViewPlan, gflops: float, num_classes: int, extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "top1": result.top1,
        "top5": result.top5,
        "videos": int(len(result.scores)),
        "chance_top1": 1.0 / num_classes,
        "views": {"mode": plan.mode, "name": plan.describe(), "clips": plan.clips, "crops": plan.crops,
                  "spacing": plan.spacing},
        "frames": plan.frames,
        "crop": plan.crop,
        "single_frame": plan.single_frame,
        "gflops_per_view": gflops,
        "gflops": flops_label(gflops, plan),  # "per view x crops x clips", as in the paper's tables
        "gflops_total_per_video": gflops * plan.crops * plan.clips,
        **extra,
    }
