"""Helpers for workflow/rules/darts.smk: which datasets are searched, each search's settings, the models entries
that retrain a searched network (`arch: darts:DATASET`), and the inputs of results/table_darts_{dataset}.csv.

Also the training stage's hooks for the darts model kind (declared in e3d.model_kinds): the train job of a
models entry `arch: darts:DATASET` depends on {work_dir}/darts/DATASET/genotype.json, and an optional `darts:`
block of the entry (channels, layers, stem_stride, dropout) widens/deepens the retrained network. No torch here:
rule files import this while Snakemake builds the DAG.
"""

from __future__ import annotations

import json
from typing import Any

from e3d.cliflags import to_flags
from e3d.errors import E3DError
from e3d.layout import Layout
from e3d.model_kinds import parse_reference

KIND = "darts"


class DartsConfigError(E3DError, ValueError):
    """The darts section names a dataset or model the config does not have."""


def workflow_ref(value: str, config: dict[str, Any]) -> tuple[str | None, str]:
    """`arch: darts:DATASET` -> the dataset's searched genotype (a dependency of the train job)."""
    if not value:
        raise DartsConfigError("models: `arch: darts:DATASET` needs the dataset whose search result to retrain")
    path = Layout.from_config(config).darts_genotype(value)
    return path, f"{KIND}:{path}"


def wrap_entry(ref: str, block: dict[str, Any], config: dict[str, Any]) -> str:
    """A models entry's `darts:` block (retraining overrides) -> the JSON form of its darts: reference."""
    kind, path = parse_reference(ref)
    if kind != KIND:
        raise DartsConfigError(f"models: a `darts:` block applies to `arch: darts:DATASET` entries, not {ref!r}")
    options = {k: v for k, v in block.items() if v is not None}
    return f"{KIND}:" + json.dumps({"genotype": path, **options}, sort_keys=True) if options else ref


def model_family(arch: str) -> str:
    """How a table names where a model comes from: DARTS-P3D, E3D (searched), or the built-in's family."""
    kind, value = parse_reference(arch)
    if kind == KIND:
        return "DARTS-P3D"
    if kind == "search":
        return "E3D (searched)"
    if kind == "variant":  # paper Table 1's kernel placements of X3D-S
        return "X3D"
    if kind == "builtin":
        name = value
    elif kind == "spec":  # a spec file is named after its network (config/archs/e3d-initial-t3.json)
        name = value.rsplit("/", 1)[-1]
    else:
        name = str(arch)
    name = name.lower()
    for prefix, family in (("e3d", "E3D"), ("x3d", "X3D"), ("movinet", "MoViNet")):
        if name.startswith(prefix):
            return family
    return kind or "spec"


class DartsConfig:
    """The `darts` section (with `data`, `models`, `train`) as darts.smk needs it."""

    def __init__(self, config: dict[str, Any]):
        self.layout = Layout.from_config(config)
        self.cfg = config["darts"]
        self.data = config["data"]["datasets"]
        self.models: dict[str, dict[str, Any]] = config["models"]
        chosen = config["train"].get("models")
        self.trained = list(chosen) if chosen is not None else list(self.models)
        self.datasets: list[str] = list(self.cfg["datasets"])
        unknown = [m for m in (self.cfg.get("compare") or []) if m not in self.models]
        if unknown:
            raise DartsConfigError(f"config: darts.compare names {unknown}, not in models (have {sorted(self.models)})")

    # -- the search -------------------------------------------------------------------------------------------
    def block_name(self, dataset: str) -> str:
        """The settings block a dataset's search uses: the block of its name, else of its data format."""
        presets = [k for k in self.cfg if isinstance(self.cfg[k], dict)]
        if dataset in presets:
            return dataset
        fmt = self.data.get(dataset, {}).get("format")
        if fmt in presets:
            return fmt
        raise DartsConfigError(f"darts: no settings block for dataset {dataset!r} (blocks: {sorted(presets)}; a "
                               f"dataset uses the block of its name or of its data format)")

    def settings(self, dataset: str) -> dict[str, Any]:
        return dict(self.cfg[self.block_name(dataset)])

    def search_args(self, dataset: str) -> str:
        return to_flags({"preset": self.block_name(dataset), "settings": self.settings(dataset)})

    def store(self, dataset: str) -> str:
        if dataset not in self.data:
            raise DartsConfigError(
                f"darts.datasets names {dataset!r}, which data.datasets does not configure: add it with its root, "
                f"e.g. --config 'data={{\"datasets\": {{\"{dataset}\": {{\"format\": \"{dataset}\", \"root\": "
                f"\"/path/to/{dataset}\", \"split\": 1}}}}}}'")
        return self.layout.frames_manifest(dataset)

    # -- the table --------------------------------------------------------------------------------------------
    def darts_models(self, dataset: str) -> list[str]:
        return [m for m, e in self.models.items() if str(e["arch"]) == f"{KIND}:{dataset}"]

    def compare_models(self) -> list[str]:
        """The E3D/X3D models the table compares with: darts.compare, else every trained non-DARTS, non-SGS one."""
        if self.cfg.get("compare") is not None:
            return list(self.cfg["compare"])
        return [m for m in self.trained
                if parse_reference(self.models[m]["arch"])[0] != KIND and self.models[m].get("sgs") is None]

    def evals(self, dataset: str, models: list[str]) -> list[str]:
        return [self.layout.eval_metrics(dataset, m) for m in models]

    def table_inputs(self, dataset: str) -> dict[str, list[str]]:
        darts = self.darts_models(dataset)
        if not darts:
            raise DartsConfigError(f"results/table_darts_{dataset}.csv: no models entry retrains the search on "
                                   f"{dataset!r}; add one, e.g. models: "
                                   f"{{darts-{dataset}: {{arch: \"darts:{dataset}\"}}}}")
        runs = sorted({self._search_run(m) for m in self.compare_models()} - {None})
        return {
            "darts_evals": self.evals(dataset, darts),
            "evals": self.evals(dataset, self.compare_models()),
            "genotype": [self.layout.darts_genotype(dataset)],
            "darts_benchmark": [self.layout.darts_benchmark(dataset)],
            "search_benchmarks": [self.layout.search_benchmark(r) for r in runs],
        }

    def _search_run(self, model: str) -> str | None:
        kind, value = parse_reference(self.models[model]["arch"])
        return value if kind == "search" else None

    def table_params(self, dataset: str) -> dict[str, Any]:
        models = self.darts_models(dataset) + self.compare_models()
        return {
            "dataset": dataset,
            "families": {m: model_family(self.models[m]["arch"]) for m in models},
            "search_runs": {m: r for m in models if (r := self._search_run(m))},
        }

    def targets(self) -> list[tuple[list[str], list[str]]]:
        """(paths, the models they need trained) per product: each dataset's search, and its table."""
        out: list[tuple[list[str], list[str]]] = []
        for ds in self.datasets:
            out.append(([self.layout.darts_genotype(ds), self.layout.darts_metrics(ds)], []))
            if self.darts_models(ds):
                out.append(([self.layout.result(f"table_darts_{ds}", "csv")],
                            self.darts_models(ds) + self.compare_models()))
        return out
