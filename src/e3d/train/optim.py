"""SGD with momentum (or AdamW), weight decay only on conv/linear weights, cosine schedule with linear warm-up."""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from e3d.train.settings import TrainSettings


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Norm scales/shifts and all biases (every parameter with fewer than 2 dims) get no weight decay."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim > 1 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def make_optimizer(model: nn.Module, s: TrainSettings) -> torch.optim.Optimizer:
    groups = param_groups(model, s.weight_decay)
    if s.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=s.lr, betas=(0.9, 0.999))
    return torch.optim.SGD(groups, lr=s.lr, momentum=s.momentum)


def lr_factor(step: int, total_steps: int, warmup_steps: int) -> float:
    """Multiplier of the peak lr before optimiser step `step` (0-based): linear warm-up, then half-cosine to 0."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    t = min(1.0, (step - warmup_steps) / span)
    return 0.5 * (1.0 + math.cos(math.pi * t))


def make_scheduler(opt: torch.optim.Optimizer, total_steps: int, warmup_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda step: lr_factor(step, total_steps, warmup_steps))
