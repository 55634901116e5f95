"""One search run end to end: data from a frame store, the search, and its artifacts in an output folder.

    out/genotype.json    e3d.darts_genotype: the discretised cell, the network shape, how the search went
    out/metrics.parquet  e3d.darts_search_metrics: one row per epoch (losses, accuracies, genotype, alphas)

Both are rewritten after every epoch, so an interrupted search leaves its last complete epoch behind.
"""

from __future__ import annotations

from pathlib import Path

from e3d.artifacts import Provenance, write_parquet
from e3d.darts.config import SearchConfig
from e3d.darts.data import SearchData, store_search_data
from e3d.darts.genotype import GenotypeArtifact, write_genotype
from e3d.darts.search import SearchResult, run_search

METRICS_SCHEMA = "e3d.darts_search_metrics"
METRICS_SCHEMA_VERSION = 1
CODE_MODULES = ("__init__.py", "artifacts.py", "provenance.py", "darts", "data/sampling.py", "data/store.py")


def search_artifacts(out: Path, data: SearchData, config: SearchConfig, device: str = "auto") -> SearchResult:
    out = Path(out)
    cfg = config.to_dict()

    def save(history, model, seconds=None, device_name=None):
        last = history.iloc[-1]
        search = {
            **data.description,
            "order": config.order,
            "epochs": int(last.epoch) + 1,
            "epochs_planned": config.epochs,
            "seed": config.seed,
            "seconds": float(history.seconds.sum()) if seconds is None else seconds,
            "device": device_name or str(next(model.parameters()).device),
            "val_loss": float(last.val_loss),
            "val_acc": float(last.val_acc),
            "primitives": list(config.primitives),
            "alphas": model.alpha_weights(),
            "config": cfg,
        }
        write_parquet(out / "metrics.parquet", history,
                      Provenance.make(METRICS_SCHEMA, METRICS_SCHEMA_VERSION, cfg, CODE_MODULES))
        write_genotype(out / "genotype.json", GenotypeArtifact(model.genotype(), config.network, data.num_classes, search),
                       cfg, CODE_MODULES)

    result = run_search(data, config, device=device, on_epoch=save)
    save(result.history, result.model, seconds=result.seconds, device_name=result.device)
    return result


def search_store(store_dir: Path, out: Path, config: SearchConfig, device: str = "auto") -> SearchResult:
    return search_artifacts(out, store_search_data(store_dir, config), config, device)
