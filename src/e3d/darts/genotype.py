"""The discretised architecture: per intermediate node, two (operation, input) pairs, for the normal and the
reduction cell; plus the versioned artifact that carries it with everything needed to rebuild the network."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch

from e3d.artifacts import ArtifactError, Provenance, read_json, write_json
from e3d.darts.ops import OPS
from e3d.darts.space import NetworkConfig, SpaceError
from e3d.errors import E3DError

GENOTYPE_SCHEMA = "e3d.darts_genotype"
GENOTYPE_SCHEMA_VERSION = 1

Edge = tuple[str, int]  # (operation, input state index: 0/1 = cell inputs, 2+i = intermediate node i)


class GenotypeError(E3DError, ValueError):
    """A genotype that does not describe a buildable cell."""


@dataclass(frozen=True)
class Genotype:
    normal: tuple[Edge, ...]
    normal_concat: tuple[int, ...]
    reduce: tuple[Edge, ...]
    reduce_concat: tuple[int, ...]

    def __post_init__(self) -> None:
        for kind in ("normal", "reduce"):
            edges = tuple((str(op), int(idx)) for op, idx in getattr(self, kind))
            concat = tuple(int(i) for i in getattr(self, f"{kind}_concat"))
            object.__setattr__(self, kind, edges)
            object.__setattr__(self, f"{kind}_concat", concat)
            if not edges or len(edges) % 2:
                raise GenotypeError(f"genotype.{kind}: expected two edges per node, got {len(edges)} edges")
            steps = len(edges) // 2
            for k, (op, idx) in enumerate(edges):
                if op not in OPS or op == "none":
                    raise GenotypeError(f"genotype.{kind}[{k}]: operation {op!r} is not a buildable operation")
                if not 0 <= idx < 2 + k // 2:
                    raise GenotypeError(f"genotype.{kind}[{k}]: node {k // 2} cannot take input state {idx}")
            if not concat or any(not 2 <= i < 2 + steps for i in concat):
                raise GenotypeError(f"genotype.{kind}_concat: {list(concat)} must name intermediate nodes 2..{steps + 1}")

    @property
    def steps(self) -> int:
        return len(self.normal) // 2

    def to_dict(self) -> dict[str, Any]:
        return {
            "normal": [[op, idx] for op, idx in self.normal],
            "normal_concat": list(self.normal_concat),
            "reduce": [[op, idx] for op, idx in self.reduce],
            "reduce_concat": list(self.reduce_concat),
        }

    @classmethod
    def from_dict(cls, data: Any, where: str = "genotype") -> "Genotype":
        try:
            return cls(
                normal=tuple((op, idx) for op, idx in data["normal"]),
                normal_concat=tuple(data["normal_concat"]),
                reduce=tuple((op, idx) for op, idx in data["reduce"]),
                reduce_concat=tuple(data["reduce_concat"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, GenotypeError):
                raise GenotypeError(f"{where}: {exc}") from None
            raise GenotypeError(f"{where}: malformed genotype ({exc!r})") from None


def derive_cell(weights: torch.Tensor, primitives: Sequence[str], steps: int, keep: int = 2) -> tuple[Edge, ...]:
    """Discretise one cell: per node, the `keep` incoming edges with the largest non-'none' weight, each with its
    argmax non-'none' operation. `weights` is [edges, ops] (softmax of the alphas). Ties go to the lower index."""
    primitives = tuple(primitives)
    weights = weights.detach().double().cpu()
    if weights.shape != (sum(2 + i for i in range(steps)), len(primitives)):
        raise GenotypeError(f"cell weights of shape {tuple(weights.shape)} do not match {steps} nodes x {len(primitives)} ops")
    allowed = [k for k, p in enumerate(primitives) if p != "none"]
    chosen: list[Edge] = []
    start = 0
    for i in range(steps):
        n_in = 2 + i
        best = []
        for j in range(n_in):
            row = weights[start + j]
            k_best = max(allowed, key=lambda k: (row[k].item(), -k))
            best.append((row[k_best].item(), j, primitives[k_best]))
        best.sort(key=lambda t: (-t[0], t[1]))
        for _, j, op in sorted(best[: min(keep, n_in)], key=lambda t: t[1]):
            chosen.append((op, j))
        start += n_in
    return tuple(chosen)


def derive_genotype(normal_weights: torch.Tensor, reduce_weights: torch.Tensor, network: NetworkConfig) -> Genotype:
    concat = tuple(range(2 + network.steps - network.multiplier, 2 + network.steps))
    return Genotype(
        normal=derive_cell(normal_weights, network.primitives, network.steps),
        normal_concat=concat,
        reduce=derive_cell(reduce_weights, network.primitives, network.steps),
        reduce_concat=concat,
    )


@dataclass(frozen=True)
class GenotypeArtifact:
    """What the training stage needs to rebuild and retrain the searched network, plus how it was found."""

    genotype: Genotype
    network: NetworkConfig  # the search network's shape (segments, frames, channels, layers, ...)
    num_classes: int
    search: dict[str, Any]  # dataset, order, epochs, seed, seconds, device, final val metrics, alphas

    def to_payload(self) -> dict[str, Any]:
        return {
            "genotype": self.genotype.to_dict(),
            "network": self.network.to_dict(),
            "num_classes": self.num_classes,
            "search": self.search,
        }


def write_genotype(path: str | Path, artifact: GenotypeArtifact, config: Any, code_modules: tuple[str, ...]) -> Path:
    prov = Provenance.make(GENOTYPE_SCHEMA, GENOTYPE_SCHEMA_VERSION, config, code_modules)
    return write_json(path, artifact.to_payload(), prov)


def read_genotype(path: str | Path) -> GenotypeArtifact:
    doc = read_json(path, schema=GENOTYPE_SCHEMA, max_version=GENOTYPE_SCHEMA_VERSION)
    try:
        genotype = Genotype.from_dict(doc["genotype"], where=f"{path}: genotype")
        network = NetworkConfig.from_dict(doc["network"], where=f"{path}: network")
        num_classes = int(doc["num_classes"])
    except KeyError as exc:
        raise ArtifactError(f"{path}: genotype artifact lacks {exc.args[0]!r}") from None
    except SpaceError as exc:
        raise ArtifactError(f"{path}: {exc}") from None
    if genotype.steps != network.steps:
        raise ArtifactError(f"{path}: genotype has {genotype.steps} nodes per cell but network.steps is {network.steps}")
    return GenotypeArtifact(genotype, network, num_classes, dict(doc.get("search", {})))
