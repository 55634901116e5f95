"""The uint8 <-> float conversion and the short-side resize that training, evaluation and the clip cache share.

One definition, so that the clip cache (e3d.data.cache) shrinks frames with the very function the training
transform (e3d.train.clips) and the test views (e3d.evaluate.views) use. Clips are float tensors [3, T, H, W] in
[0, 1]; frames are uint8 [T, H, W, 3].
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def to_tensor(clip: np.ndarray) -> torch.Tensor:
    if clip.ndim != 4 or clip.shape[-1] != 3:
        raise ValueError(f"expected a uint8 clip [T, H, W, 3], got shape {clip.shape}")
    return torch.from_numpy(np.ascontiguousarray(clip)).permute(3, 0, 1, 2).float().div_(255.0)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """The inverse of to_tensor, rounded to the nearest grey level: float [3, T, H, W] -> uint8 [T, H, W, 3]
    (to_uint8(to_tensor(c)) == c exactly)."""
    return x.mul(255.0).round_().clamp_(0, 255).to(torch.uint8).permute(1, 2, 3, 0).contiguous().numpy()


def short_side_size(h: int, w: int, size: int) -> tuple[int, int]:
    """(height, width) of a frame of h x w with its short side resized to `size`, aspect kept."""
    if h <= w:
        return size, max(size, round(w * size / h))
    return max(size, round(h * size / w)), size


def resize_short_side(x: torch.Tensor, size: int, frame_size: tuple[int, int] | None = None) -> torch.Tensor:
    """The clip with its short side resized to `size`, aspect kept. `frame_size`: the (height, width) of the frames
    the clip was made from, when it is a shrunk copy of them (a clip cache's): the output then has the size that
    resizing those frames gives, not one that rounds the aspect ratio a second time."""
    _, _, h, w = x.shape
    nh, nw = short_side_size(*(frame_size or (h, w)), size)
    if (h, w) == (nh, nw):
        return x
    # Frames are the batch dimension; antialias keeps downscaled frames free of aliasing.
    y = F.interpolate(x.transpose(0, 1), size=(nh, nw), mode="bilinear", align_corners=False, antialias=True)
    return y.transpose(0, 1).contiguous()
