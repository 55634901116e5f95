"""Point labels that do not overlap: a greedy placement measured with the figure's own renderer.

Each label is tried at offsets of growing distance around its point, in eight (then sixteen) directions, and takes
the first spot where its text box lies inside the axes and clear of every label already placed, every point marker
and the artists to avoid (a legend, a reference line's text). Labels of crowded points are placed first, so they get
the near spots; a label placed away from its point gets a thin leader line, placed so that it does not cut
through another label. Measuring needs the final layout, so
`settle` runs the layout engine once and then freezes it: the saved figure has the geometry the labels were placed in.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np
from matplotlib.text import Annotation, Text
from matplotlib.transforms import Bbox

# offsets from the point, in points: near spots first; beyond LEADER_FROM a leader line joins label and point
RADII = (4.0, 8.0, 13.0, 19.0, 26.0, 34.0, 44.0, 56.0, 70.0, 86.0, 104.0)
LEADER_FROM = 12.0
PAD_PX = 1.5  # clearance kept around every box
HALO_PT = 3.0  # clearance kept between a label and another point's marker


def settle(fig) -> None:
    """Run the figure's layout once and freeze it, so boxes measured now are where the saved figure draws them."""
    fig.draw_without_rendering()
    fig.set_layout_engine("none")


def _directions(radius: float) -> list[float]:
    n = 8 if radius < 19.0 else 16
    # right, up, left, down first (the reading positions), then the diagonals
    order = [0, 4, 8, 12, 2, 6, 10, 14, 1, 3, 5, 7, 9, 11, 13, 15] if n == 16 else [0, 2, 4, 6, 1, 3, 5, 7]
    return [2 * math.pi * k / n for k in order]


def _alignment(dx: float, dy: float) -> tuple[str, str]:
    ha = "left" if dx > 1e-6 else "right" if dx < -1e-6 else "center"
    va = "bottom" if dy > 1e-6 else "top" if dy < -1e-6 else "center"
    return ha, va


def _overlap(box: Bbox, others: Sequence[Bbox]) -> float:
    total = 0.0
    for other in others:
        w = min(box.x1, other.x1) - max(box.x0, other.x0)
        h = min(box.y1, other.y1) - max(box.y0, other.y0)
        if w > 0 and h > 0:
            total += w * h
    return total


def _outside(box: Bbox, frame: Bbox) -> float:
    """Area of `box` outside `frame` (0 when inside)."""
    inside = max(0.0, min(box.x1, frame.x1) - max(box.x0, frame.x0)) * max(0.0, min(box.y1, frame.y1) - max(box.y0, frame.y0))
    return box.width * box.height - inside


def _leader_crossings(start: np.ndarray, end: np.ndarray, boxes: Sequence[Bbox], samples: int = 24) -> int:
    """How many sample points of the leader line from `start` to `end` (pixels) fall in other labels' boxes."""
    hits = 0
    for t in np.linspace(0.0, 1.0, samples):
        x, y = start + t * (end - start)
        hits += sum(1 for b in boxes if b.x0 <= x <= b.x1 and b.y0 <= y <= b.y1)
    return hits


def place_labels(ax, xs: Iterable[float], ys: Iterable[float], texts: Iterable[str], *, fontsize: float = 7,
                 marker_pt: float = 5.0, avoid: Sequence = ()) -> list[Annotation]:
    """Annotate each point (data coordinates) with its text without overlaps; call `settle` on the figure first.
    `marker_pt` is the markers' diameter in points; `avoid` are artists whose boxes labels keep clear of. Where no
    free spot exists within the largest radius the label takes the spot of least overlap (none in our figures)."""
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    xs, ys, texts = list(xs), list(ys), [str(t) for t in texts]
    if not texts:
        return []
    px_per_pt = fig.dpi / 72.0
    points = ax.transData.transform(np.column_stack([xs, ys]).astype(float))
    # a label keeps a halo's distance from other points' markers, so that it reads as its own point's
    half = (marker_pt / 2.0 + HALO_PT) * px_per_pt
    markers = [Bbox.from_extents(x - half, y - half, x + half, y + half) for x, y in points]
    taken = [a.get_window_extent(renderer) for a in avoid]
    frame = ax.get_window_extent(renderer)
    # crowded points first: count the neighbours within the reach of a near label
    reach = 40.0 * px_per_pt
    dist = np.linalg.norm(points[:, None, :] - points[None, :, :], axis=-1)
    order = sorted(range(len(texts)), key=lambda i: (-int((dist[i] < reach).sum()), i))
    placed: list[Annotation | None] = [None] * len(texts)
    label_boxes: list[Bbox] = []
    for i in order:
        probe = ax.annotate(texts[i], (xs[i], ys[i]), xytext=(0, 0), textcoords="offset points", fontsize=fontsize,
                            annotation_clip=False)
        best: tuple[float, float, float] | None = None  # (cost, dx, dy)
        for radius in RADII:
            for angle in _directions(radius):
                dx, dy = radius * math.cos(angle), radius * math.sin(angle)
                dx, dy = (0.0 if abs(dx) < 1e-9 else dx), (0.0 if abs(dy) < 1e-9 else dy)
                ha, va = _alignment(dx, dy)
                probe.xyann = (dx, dy)
                probe.set_horizontalalignment(ha)
                probe.set_verticalalignment(va)
                probe.update_positions(renderer)
                box = Text.get_window_extent(probe, renderer).padded(PAD_PX)
                cost = (_overlap(box, taken) + _overlap(box, markers[:i] + markers[i + 1:])
                        + 10.0 * _outside(box, frame))
                if math.hypot(dx, dy) > LEADER_FROM:  # its leader line should not cut through another label
                    cost += 50.0 * _leader_crossings(points[i], points[i] + np.array([dx, dy]) * px_per_pt,
                                                     label_boxes)
                if best is None or cost < best[0]:
                    best = (cost, dx, dy)
                if cost == 0.0:
                    break
            if best is not None and best[0] == 0.0:
                break
        probe.remove()
        _, dx, dy = best
        ha, va = _alignment(dx, dy)
        leader = {"arrowstyle": "-", "lw": 0.5, "color": "0.45", "shrinkA": 0.0, "shrinkB": 2.0}
        ann = ax.annotate(texts[i], (xs[i], ys[i]), xytext=(dx, dy), textcoords="offset points", fontsize=fontsize,
                          ha=ha, va=va, annotation_clip=False,
                          arrowprops=leader if math.hypot(dx, dy) > LEADER_FROM else None)
        ann.set_in_layout(False)
        ann.update_positions(renderer)
        label_boxes.append(Text.get_window_extent(ann, renderer).padded(PAD_PX))
        taken.append(label_boxes[-1])
        placed[i] = ann
    return [a for a in placed if a is not None]
