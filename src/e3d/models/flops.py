"""fvcore counts of a built model, in the cost model's convention and in fvcore's own default.

`set_op_handle("aten::batch_norm", None)` does not switch batch-norm counting off in fvcore 0.1.5 (it only adds the
op to the ignore list while its handle stays registered), so the conv-only count replaces the handle with one that
counts nothing. The model is counted in eval mode (BN counts differ between train and eval).
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import torch
from torch import nn

# fvcore's default handles that are not convs or linear layers; switched off for the conv+linear convention
NON_CONV_HANDLES = (
    "aten::batch_norm",
    "aten::group_norm",
    "aten::layer_norm",
    "aten::instance_norm",
    "aten::upsample_nearest2d",
    "aten::upsample_bilinear2d",
    "aten::adaptive_avg_pool2d",
    "aten::grid_sampler",
)


def _nothing(inputs: Any, outputs: Any) -> Counter:
    return Counter()


def fvcore_counts(model: nn.Module, clip: torch.Tensor, full: bool = True) -> dict[str, Any]:
    """{'conv_macs': conv+linear MACs, 'full_flops': fvcore's default total, 'params': parameter_count,
    'by_operator': the default count per operator} for one forward of `clip` (counted per whole batch).
    full=False skips the second trace that fvcore's default count needs (full_flops and by_operator are None)."""
    from fvcore.nn import FlopCountAnalysis, parameter_count

    was_training = model.training
    model.eval()
    # fvcore logs a warning per unsupported op (pooling, sigmoid, adds): expected, and noisy
    logging.getLogger("fvcore.nn.jit_analysis").setLevel(logging.ERROR)
    try:
        with torch.no_grad():
            full_total, by_op = None, None
            if full:
                fa = FlopCountAnalysis(model, clip)
                fa.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
                by_op = {k: int(v) for k, v in fa.by_operator().items()}
                full_total = sum(by_op.values())  # total() would run the whole analysis again
            conv = FlopCountAnalysis(model, clip)
            conv.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            for name in NON_CONV_HANDLES:
                conv.set_op_handle(name, _nothing)
            conv_ops = {k: int(v) for k, v in conv.by_operator().items()}
            return {
                "conv_macs": sum(conv_ops.values()),
                "full_flops": full_total,
                "params": int(parameter_count(model)[""]),
                "by_operator": by_op,
                "conv_by_operator": conv_ops,
            }
    finally:
        model.train(was_training)
