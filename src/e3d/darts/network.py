"""The search network (a stack of mixed cells with architecture parameters) and the discrete network built
from a genotype. Both take [N, 3, K*F, H, W], run each of the K segments through the same weights and average
the per-segment logits, so they plug into the same training loop as the 3D CNNs."""

from __future__ import annotations

from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from e3d.darts.cells import DiscreteCell, SearchCell
from e3d.darts.genotype import Genotype, GenotypeError, derive_genotype
from e3d.darts.segments import average_consensus, split_segments
from e3d.darts.space import NetworkConfig

ALPHA_NAMES = ("alphas_normal", "alphas_reduce")


def _stem(c_out: int, stride: int) -> nn.Sequential:
    # Pseudo-3D like the cells: a 1x3x3 spatial conv then a 3x1x1 temporal conv.
    return nn.Sequential(
        nn.Conv3d(3, c_out, (1, 3, 3), stride=(1, stride, stride), padding=(0, 1, 1), bias=False),
        nn.BatchNorm3d(c_out),
        nn.ReLU(inplace=False),
        nn.Conv3d(c_out, c_out, (3, 1, 1), padding=(1, 0, 0), bias=False),
        nn.BatchNorm3d(c_out),
    )


def _cell_channels(config: NetworkConfig, genotype: Genotype | None = None):
    """Yield (c_prev_prev, c_prev, c, reduction, reduction_prev) per cell, updating as DARTS does.

    A cell outputs the concatenation of `multiplier` nodes in the search network; a discrete cell concatenates the
    genotype's own node list, which may hold a different number."""
    c_curr = config.stem_multiplier * config.channels
    c_pp, c_p, c_curr = c_curr, c_curr, config.channels
    reduction_prev = False
    for i in range(config.layers):
        reduction = i in config.reduction_layers
        if reduction:
            c_curr *= 2
        yield c_pp, c_p, c_curr, reduction, reduction_prev
        if genotype is None:
            width = config.multiplier
        else:
            width = len(genotype.reduce_concat if reduction else genotype.normal_concat)
        reduction_prev = reduction
        c_pp, c_p = c_p, width * c_curr


class SearchNetwork(nn.Module):
    def __init__(self, num_classes: int, config: NetworkConfig, alpha_seed: int = 0):
        super().__init__()
        self.config = config
        self.num_classes = num_classes
        self.stem = _stem(config.stem_multiplier * config.channels, config.stem_stride)
        self.cells = nn.ModuleList()
        c_out = None
        for c_pp, c_p, c, reduction, reduction_prev in _cell_channels(config):
            self.cells.append(SearchCell(config.steps, config.multiplier, c_pp, c_p, c, reduction, reduction_prev,
                                         config.primitives))
            c_out = config.multiplier * c
        self.classifier = nn.Linear(c_out, num_classes)
        gen = torch.Generator().manual_seed(int(alpha_seed))
        shape = (config.num_edges, len(config.primitives))
        self.alphas_normal = nn.Parameter(1e-3 * torch.randn(shape, generator=gen))
        self.alphas_reduce = nn.Parameter(1e-3 * torch.randn(shape, generator=gen))

    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.alphas_normal, self.alphas_reduce]

    def named_weights(self) -> Iterator[tuple[str, nn.Parameter]]:
        """Every parameter except the architecture parameters (the SGD-trained network weights)."""
        return ((n, p) for n, p in self.named_parameters() if n not in ALPHA_NAMES)

    def weights(self) -> list[nn.Parameter]:
        return [p for _, p in self.named_weights()]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        x = split_segments(x, cfg.segments, cfg.frames_per_segment)
        w_normal = F.softmax(self.alphas_normal, dim=-1)
        w_reduce = F.softmax(self.alphas_reduce, dim=-1)
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, w_reduce if cell.reduction else w_normal)
        logits = self.classifier(s1.mean(dim=(2, 3, 4)))
        return average_consensus(logits, cfg.segments)

    def genotype(self) -> Genotype:
        return derive_genotype(F.softmax(self.alphas_normal, dim=-1), F.softmax(self.alphas_reduce, dim=-1), self.config)

    def alpha_weights(self) -> dict[str, list[list[float]]]:
        """Softmax edge weights per cell kind, for the artifacts (rows: edges, columns: config.primitives)."""
        return {
            "normal": F.softmax(self.alphas_normal.detach(), dim=-1).cpu().tolist(),
            "reduce": F.softmax(self.alphas_reduce.detach(), dim=-1).cpu().tolist(),
        }


class DiscreteNetwork(nn.Module):
    def __init__(self, genotype: Genotype, num_classes: int, config: NetworkConfig, dropout: float = 0.0):
        super().__init__()
        if genotype.steps != config.steps:
            raise GenotypeError(f"genotype has {genotype.steps} nodes per cell, network config says {config.steps}")
        self.config = config
        self.genotype = genotype
        self.stem = _stem(config.stem_multiplier * config.channels, config.stem_stride)
        self.cells = nn.ModuleList()
        c_out = None
        for c_pp, c_p, c, reduction, reduction_prev in _cell_channels(config, genotype):
            ops, concat = (genotype.reduce, genotype.reduce_concat) if reduction else (genotype.normal, genotype.normal_concat)
            cell = DiscreteCell(ops, concat, c_pp, c_p, c, reduction, reduction_prev)
            self.cells.append(cell)
            c_out = cell.multiplier * c
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(c_out, num_classes)

    @property
    def drop_path_prob(self) -> float:
        return self.cells[0].drop_prob if len(self.cells) else 0.0

    @drop_path_prob.setter
    def drop_path_prob(self, value: float) -> None:
        """Set per epoch by a retraining loop that schedules drop path (DARTS ramps it linearly)."""
        for cell in self.cells:
            cell.drop_prob = float(value)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        x = split_segments(x, cfg.segments, cfg.frames_per_segment)
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        logits = self.classifier(self.dropout(s1.mean(dim=(2, 3, 4))))
        return average_consensus(logits, cfg.segments)


def build_discrete_network(genotype: Genotype, num_classes: int, network: NetworkConfig | None = None,
                           *, channels: int | None = None, layers: int | None = None,
                           segments: int | None = None, frames_per_segment: int | None = None,
                           stem_stride: int | None = None, dropout: float = 0.0,
                           drop_path_prob: float = 0.0) -> DiscreteNetwork:
    """The searched architecture as a trainable module, from scratch.

    `network` is the shape the search used (GenotypeArtifact.network); keyword overrides widen or deepen it for
    retraining (DARTS retrains with more channels and cells than it searched with). Input: [N, 3, T, H, W] with
    T = segments x frames_per_segment; output: [N, num_classes] logits (segment consensus inside).
    """
    network = network or NetworkConfig(steps=genotype.steps)
    network = network.replace(channels=channels, layers=layers, segments=segments,
                              frames_per_segment=frames_per_segment, stem_stride=stem_stride)
    model = DiscreteNetwork(genotype, num_classes, network, dropout=dropout)
    model.drop_path_prob = drop_path_prob
    return model
