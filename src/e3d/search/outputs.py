"""The search's declared outputs: arch.json (the best spec), topk.json, trace.parquet; all through e3d.artifacts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from e3d.arch.cost import CONVENTION
from e3d.artifacts import Provenance, write_json, write_parquet
from e3d.provenance import STAGE_MODULES
from e3d.score.registry import score_device
from e3d.search.engine import SearchResult

ARCH_SCHEMA = "e3d.search.arch"
TOPK_SCHEMA = "e3d.search.topk"
TRACE_SCHEMA = "e3d.search.trace"
SCHEMA_VERSION = 1


def _prov(schema: str, config: dict[str, Any]) -> Provenance:
    return Provenance.make(schema, SCHEMA_VERSION, config, STAGE_MODULES["search"])


def entry_record(result: SearchResult, rank: int, name: str) -> dict[str, Any]:
    score, genome, macs, params = result.population[rank]
    spec = result.space.spec_from_genome(genome, name=name).with_input(result.config.resolution, result.config.frames)
    return {
        "rank": rank,
        "score": score,
        "score_kind": result.config.score,
        "gflops": macs * 1e-9,
        "macs": macs,
        "params": params,
        "layers": spec.layer_count(),
        "spec": spec.to_dict(),
    }


def summary(result: SearchResult) -> dict[str, Any]:
    score, _, macs, params = result.best
    return {
        "best_score": score,
        "score_kind": result.config.score,
        "best_gflops": macs * 1e-9,
        "best_params": params,
        "iterations": result.config.iterations,
        "evaluated": result.evaluated,
        "accepted": result.accepted,
        "seconds": result.seconds,
        "resumed_from": result.resumed_from,
        "start": result.start,
        "flops_convention": CONVENTION,
        # where the candidates were scored (Table 7's search device column); the search itself runs on CPUs
        "score_device": score_device(result.config.score, result.config.score_options),
    }


def write_outputs(result: SearchResult, out_dir: str | Path, name: str = "e3d-searched",
                  config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write DIR/arch.json, DIR/topk.json, DIR/trace.parquet; return the summary printed by `e3d search`."""
    import pandas as pd

    out = Path(out_dir)
    cfg = result.config.to_dict() if config is None else config
    info = summary(result)
    best = entry_record(result, 0, name)
    write_json(out / "arch.json", {**best, "search": cfg, "summary": info, "space": result.space.describe(),
                                   "flops_convention": CONVENTION}, _prov(ARCH_SCHEMA, cfg))
    k = min(result.config.topk, len(result.population))
    write_json(out / "topk.json", {"entries": [entry_record(result, i, f"{name}-top{i}") for i in range(k)],
                                   "search": cfg, "flops_convention": CONVENTION}, _prov(TOPK_SCHEMA, cfg))
    write_parquet(out / "trace.parquet", pd.DataFrame(result.trace), _prov(TRACE_SCHEMA, cfg))
    return info
