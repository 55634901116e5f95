"""Training-time options applied to a spec (paper Appendix F: SE blocks and ReLU added for training).

A pure spec transform, so the cost model, the tables and the builder all count the network that was trained.
"""

from __future__ import annotations

import dataclasses

from e3d.arch.spec import ACTIVATIONS, ArchSpec, SpecError


def effective_spec(spec: ArchSpec, se_ratio: float | None = None, act: str | None = None) -> ArchSpec:
    """The spec with the training options of the paper's Appendix F applied.

    se_ratio: SE on every layer of every super block with this ratio of its bottleneck width (0 removes SE;
    None keeps the spec's). act: the activation of the stem, the blocks (expand, depthwise and after the residual
    add, where the spec has one) and the final conv (None keeps the spec's). The head is left as specified.
    """
    if act is not None and act not in ACTIVATIONS:
        raise SpecError(f"act: expected one of {', '.join(ACTIVATIONS)}, got {act!r}")
    if se_ratio is not None and not (0 <= se_ratio <= 1):
        raise SpecError(f"se_ratio: expected a ratio in [0, 1], got {se_ratio!r}")
    blocks = []
    for b in spec.blocks:
        kw: dict = {}
        if se_ratio is not None:
            kw.update(se_ratio=float(se_ratio), se_pattern="all" if se_ratio > 0 else "none")
        if act is not None:
            kw.update(act=act, dw_act="", post_act=act if b.post_act != "none" else "none")
        blocks.append(dataclasses.replace(b, **kw))
    out = dataclasses.replace(spec, blocks=tuple(blocks))
    if act is not None:
        out = dataclasses.replace(out, stem=dataclasses.replace(spec.stem, act=act),
                                  final=dataclasses.replace(spec.final, act=act))
    return out
