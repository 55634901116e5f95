"""Helpers for workflow/rules/darts.smk: which datasets are searched, each search's settings, the models entries
that retrain a searched network (`arch: darts:DATASET`), and the inputs of results/table_darts_{dataset}.csv.

Also registers `darts:DATASET` with the training stage's workflow (e3d.train.workflow): the train job of such a
models entry depends on {work_dir}/darts/DATASET/genotype.json and an optional `darts:` block of the entry
(channels, layers, stem_stride, dropout) widens/deepens the retrained network. No torch here: rule files import
this while Snakemake builds the DAG.
"""

from __future__ import annotations

import json
from typing import Any

from e3d.cliflags import to_flags
from e3d.errors import E3DError
from e3d.train.workflow import register_entry_wrapper, register_workflow_ref

KIND = "darts"


class DartsConfigError(E3DError, ValueError):
    """The darts section names a dataset or model the config does not have."""


def named_inputs(input: Any) -> dict[str, list[str]]:
    """A rule's named inputs as {name: [paths]} (Snakemake gives a one-file name as a string)."""
    out: dict[str, list[str]] = {}
    for key in input.keys():
        value = input[key]
        out[key] = [value] if isinstance(value, str) else [str(v) for v in value]
    return out


def genotype_path(work: str, dataset: str) -> str:
    return f"{work}/darts/{dataset}/genotype.json"


def _workflow_ref(value: str, config: dict[str, Any]) -> tuple[str | None, str]:
    if not value:
        raise DartsConfigError("models: `arch: darts:DATASET` needs the dataset whose search result to retrain")
    path = genotype_path(config["work_dir"], value)
    return path, f"{KIND}:{path}"


def _wrap(ref: str, block: dict[str, Any], config: dict[str, Any]) -> str:
    kind, _, path = ref.partition(":")
    if kind != KIND:
        raise DartsConfigError(f"models: a `darts:` block applies to `arch: darts:DATASET` entries, not {ref!r}")
    options = {k: v for k, v in block.items() if v is not None}
    return f"{KIND}:" + json.dumps({"genotype": path, **options}, sort_keys=True) if options else ref


register_workflow_ref(KIND, _workflow_ref, profile=False)  # no spec: the profile rule counts specs
register_entry_wrapper(KIND, _wrap, profile=False)


def model_family(arch: str) -> str:
    """How a table names where a model comes from: DARTS-P3D, E3D (searched), or the built-in's family."""
    kind, _, value = str(arch).partition(":")
    if kind == KIND:
        return "DARTS-P3D"
    if kind == "search":
        return "E3D (searched)"
    name = (value if kind == "builtin" else arch).lower()
    for prefix, family in (("e3d", "E3D"), ("x3d", "X3D"), ("movinet", "MoViNet")):
        if name.startswith(prefix):
            return family
    return kind or "spec"


class DartsConfig:
    """The `darts` section (with `data`, `models`, `train`) as darts.smk needs it."""

    def __init__(self, config: dict[str, Any]):
        self.work = config["work_dir"]
        self.results = config["results_dir"]
        self.logs = config["logs_dir"]
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
        return f"{self.work}/data/{dataset}/frames/manifest.json"

    # -- the table --------------------------------------------------------------------------------------------
    def darts_models(self, dataset: str) -> list[str]:
        return [m for m, e in self.models.items() if str(e["arch"]) == f"{KIND}:{dataset}"]

    def compare_models(self) -> list[str]:
        """The E3D/X3D models the table compares with: darts.compare, else every trained non-DARTS, non-SGS one."""
        if self.cfg.get("compare") is not None:
            return list(self.cfg["compare"])
        return [m for m in self.trained
                if not str(self.models[m]["arch"]).startswith(f"{KIND}:") and self.models[m].get("sgs") is None]

    def evals(self, dataset: str, models: list[str]) -> list[str]:
        return [f"{self.work}/eval/{dataset}/{m}/multiview.metrics.json" for m in models]

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
            "genotype": [genotype_path(self.work, dataset)],
            "darts_benchmark": [f"{self.logs}/darts/{dataset}.benchmark.tsv"],
            "search_benchmarks": [f"{self.logs}/search/{r}.benchmark.tsv" for r in runs],
        }

    def _search_run(self, model: str) -> str | None:
        kind, _, value = str(self.models[model]["arch"]).partition(":")
        return value if kind == "search" else None

    def table_params(self, dataset: str) -> dict[str, Any]:
        models = self.darts_models(dataset) + self.compare_models()
        return {
            "dataset": dataset,
            "families": {m: model_family(self.models[m]["arch"]) for m in models},
            "search_runs": {m: r for m in models if (r := self._search_run(m))},
        }

    def targets(self) -> list[str]:
        out = []
        for ds in self.datasets:
            out += [genotype_path(self.work, ds), f"{self.work}/darts/{ds}/metrics.parquet"]
            if self.darts_models(ds):
                out.append(f"{self.results}/table_darts_{ds}.csv")
        return out
