"""Named built-in architectures.

E3D-S/M/L are the released structures (paper Table 9), INITIAL the search's starting point (paper Table 8).
X3D and MoViNet are registered by their own modules (see _REGISTRY); every name maps to a factory so that a
caller can never mutate a shared instance.
"""

from __future__ import annotations

from typing import Callable

from functools import partial

from e3d.arch.baselines import movinet, x3d
from e3d.arch.spec import ArchSpec, BlockSpec, ConvSpec, HeadSpec
from e3d.errors import E3DError

E3D_STRIDES = (2, 2, 2, 1, 2)


def _e3d(name: str, rows: list[tuple[int, int, str, int]], resolution: int, frames: int) -> ArchSpec:
    """rows: (out, btn, kernel 'KtxKxK', layers) for the five super blocks."""
    blocks = tuple(
        BlockSpec(out=o, btn=b, kernel=tuple(int(x) for x in k.split("x")), stride=s, layers=n)
        for (o, b, k, n), s in zip(rows, E3D_STRIDES)
    )
    return ArchSpec(
        name=name,
        stem=ConvSpec(out=24, kernel=(1, 3, 3), stride=2),
        blocks=blocks,
        final=ConvSpec(out=512, kernel=(1, 1, 1), stride=1),
        # dropout 0.2: the authors' deploy code (tinynas/deploy/cnn3dnet/cnn3dnet.py)
        head=HeadSpec(hidden=2048, act="swish", dropout=0.2),
        resolution=resolution,
        frames=frames,
        family="e3d",
    )


def e3d_s() -> ArchSpec:
    rows = [(24, 32, "1x5x5", 3), (48, 96, "3x3x3", 6), (120, 176, "3x3x3", 6), (120, 176, "3x3x3", 6), (256, 384, "3x3x3", 6)]
    return _e3d("e3d-s", rows, 160, 13)


def e3d_m() -> ArchSpec:
    rows = [(24, 32, "1x5x5", 3), (64, 96, "3x3x3", 6), (120, 176, "3x3x3", 6), (120, 176, "3x3x3", 6), (184, 464, "3x3x3", 6)]
    return _e3d("e3d-m", rows, 224, 16)


def e3d_l() -> ArchSpec:
    rows = [(24, 32, "1x5x5", 3), (48, 120, "3x3x3", 13), (120, 176, "3x3x3", 13), (120, 176, "3x3x3", 13), (192, 480, "3x3x3", 13)]
    return _e3d("e3d-l", rows, 312, 16)


def e3d_initial() -> ArchSpec:
    """The search's default initial structure: the authors' released configs (configs/action_recognition/*),
    whose first super block has a 1x5x5 kernel."""
    rows = [(24, 48, "1x5x5", 1), (48, 96, "3x3x3", 1), (96, 192, "3x3x3", 1), (96, 192, "3x3x3", 1), (192, 384, "3x3x3", 1)]
    return _e3d("e3d-initial", rows, 160, 13)


def e3d_initial_table8() -> ArchSpec:
    """The initial structure as the paper's Table 8 prints it: the same, but a 3x3x3 first super block."""
    rows = [(24, 48, "3x3x3", 1), (48, 96, "3x3x3", 1), (96, 192, "3x3x3", 1), (96, 192, "3x3x3", 1), (192, 384, "3x3x3", 1)]
    return _e3d("e3d-initial-table8", rows, 160, 13)


_REGISTRY: dict[str, Callable[[], ArchSpec]] = {
    "e3d-s": e3d_s,
    "e3d-m": e3d_m,
    "e3d-l": e3d_l,
    "e3d-initial": e3d_initial,
    "e3d-initial-table8": e3d_initial_table8,
    "x3d-s": partial(x3d, "s"),
    "x3d-m": partial(x3d, "m"),
    "x3d-l": partial(x3d, "l"),
    "movinet-a0": partial(movinet, "a0"),
    "movinet-a1": partial(movinet, "a1"),
    "movinet-a2": partial(movinet, "a2"),
}


def builtin_names() -> list[str]:
    return sorted(_REGISTRY)


def get_builtin(name: str) -> ArchSpec:
    try:
        return _REGISTRY[name.lower()]()
    except KeyError:
        raise E3DError(f"unknown architecture {name!r}; built-in names: {', '.join(builtin_names())}") from None
