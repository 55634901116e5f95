"""Cells: a DAG of two inputs (the previous two cells), `steps` intermediate nodes and a concatenated output.

SearchCell mixes every candidate operation on every edge (weights from the architecture parameters);
DiscreteCell keeps, per node, the two (operation, input) pairs chosen by discretisation.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from e3d.darts.ops import FactorizedReduce, ReLUConvBN, make_op


class MixedOp(nn.Module):
    """One edge of the continuous relaxation: sum_o w_o * o(x) with w = softmax(alpha_edge)."""

    def __init__(self, channels: int, stride: int, primitives: Sequence[str]):
        super().__init__()
        self.primitives = tuple(primitives)
        ops = []
        for name in self.primitives:
            op = make_op(name, channels, stride, affine=False)
            if "pool" in name:
                # Pooling outputs are not normalised like the conv outputs; without BN they win the mix by scale.
                op = nn.Sequential(op, nn.BatchNorm3d(channels, affine=False))
            ops.append(op)
        self._ops = nn.ModuleList(ops)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return sum(w * op(x) for w, op in zip(weights, self._ops))


def _preprocess(c_prev_prev: int, c_prev: int, c: int, reduction_prev: bool, affine: bool):
    # The cell two back is at twice the resolution when the previous cell reduced.
    pre0 = FactorizedReduce(c_prev_prev, c, affine=affine) if reduction_prev else ReLUConvBN(c_prev_prev, c, 1, affine=affine)
    pre1 = ReLUConvBN(c_prev, c, 1, affine=affine)
    return pre0, pre1


class SearchCell(nn.Module):
    def __init__(self, steps: int, multiplier: int, c_prev_prev: int, c_prev: int, c: int, reduction: bool,
                 reduction_prev: bool, primitives: Sequence[str]):
        super().__init__()
        self.reduction = reduction
        self.steps = steps
        self.multiplier = multiplier
        self.preprocess0, self.preprocess1 = _preprocess(c_prev_prev, c_prev, c, reduction_prev, affine=False)
        self._ops = nn.ModuleList()
        for i in range(steps):
            for j in range(2 + i):
                stride = 2 if reduction and j < 2 else 1
                self._ops.append(MixedOp(c, stride, primitives))

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        offset = 0
        for _ in range(self.steps):
            s = sum(self._ops[offset + j](h, weights[offset + j]) for j, h in enumerate(states))
            offset += len(states)
            states.append(s)
        return torch.cat(states[-self.multiplier:], dim=1)


def drop_path(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    """Zero whole examples of a path with probability drop_prob, rescaling the rest (DARTS's retraining trick)."""
    if drop_prob <= 0.0:
        return x
    keep = 1.0 - drop_prob
    mask = torch.empty(x.shape[0], 1, 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(keep)
    return x / keep * mask


class DiscreteCell(nn.Module):
    def __init__(self, ops: Sequence[tuple[str, int]], concat: Sequence[int], c_prev_prev: int, c_prev: int, c: int,
                 reduction: bool, reduction_prev: bool):
        super().__init__()
        self.reduction = reduction
        self.preprocess0, self.preprocess1 = _preprocess(c_prev_prev, c_prev, c, reduction_prev, affine=True)
        self._steps = len(ops) // 2
        self._concat = tuple(concat)
        self.multiplier = len(self._concat)
        self._indices = tuple(index for _, index in ops)
        self._ops = nn.ModuleList(
            make_op(name, c, 2 if reduction and index < 2 else 1, affine=True) for name, index in ops
        )
        self.drop_prob = 0.0

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for i in range(self._steps):
            total = 0
            for k in (2 * i, 2 * i + 1):
                op = self._ops[k]
                h = op(states[self._indices[k]])
                if self.training and not isinstance(op, nn.Identity):
                    h = drop_path(h, self.drop_prob)
                total = total + h
            states.append(total)
        return torch.cat([states[i] for i in self._concat], dim=1)
