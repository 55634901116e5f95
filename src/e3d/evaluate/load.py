"""Rebuild a trained model from its model.pt alone (weights + model record), loading weights_only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch.nn as nn

from e3d.train import checkpoint, model_source


def load_trained(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    ckpt = checkpoint.load(path)
    for key in ("model", "record", "num_classes"):
        if key not in ckpt:
            raise checkpoint.CheckpointError(f"{path}: not a trained-model file (no {key!r}); pass the model.pt "
                                             "that `e3d train` writes to --out")
    model = model_source.build(ckpt["record"], int(ckpt["num_classes"]))
    model.load_state_dict(ckpt["model"])
    return model, ckpt
