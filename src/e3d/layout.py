"""Where the workflow's files live: every path under work_dir, results_dir and logs_dir that a rule writes and
another rule, a target list or a table reads. Rule files and the stage helpers (e3d.*.workflow) take their paths
from here, so a path is spelled once; Snakemake keys jobs by these strings, so changing one reruns what it names.

Methods take the names a file is keyed by; given Snakemake wildcards (`"{dataset}"`) they return a rule's pattern.
No imports beyond the standard library: the rule files import this while Snakemake builds the DAG.
"""

from __future__ import annotations

from typing import Any


# Table 7's schedules: the main one ("") and the optional long one (baselines.table7.long_settings). Each one's prefix
# names its models (`{prefix}-{entrant}-seed{k}`) and its result file (`{prefix}_training_free_{dataset}`), so that no
# stem starts with another's `{stem}_` (a `table7_training_free_long_x` would also match the main table's
# `table7_training_free_{dataset}`, dataset `long_x`).
TABLE7_SCHEDULES = {"": "table7", "long": "table7long"}


def table7_stem(schedule: str = "") -> str:
    """The result file stem of Table 7 under a schedule, before `_{dataset}`."""
    return f"{TABLE7_SCHEDULES[schedule]}_training_free"


class Layout:
    def __init__(self, work: str, results: str, logs: str):
        self.work = work
        self.results = results
        self.logs = logs

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layout:
        return cls(config["work_dir"], config["results_dir"], config["logs_dir"])

    # -- data: raw synthetic videos, the index, the frame store, the clip cache ---------------------------
    def raw_dir(self, dataset: str) -> str:
        """Where the synth rule writes a generated dataset (its root)."""
        return f"{self.work}/raw/{dataset}"

    def synth_manifest(self, dataset: str) -> str:
        return f"{self.raw_dir(dataset)}/synth.json"

    def index(self, dataset: str) -> str:
        return f"{self.work}/data/{dataset}/index.parquet"

    def index_summary(self, dataset: str) -> str:
        return f"{self.work}/data/{dataset}/index_summary.json"

    def frames_manifest(self, dataset: str) -> str:
        """The frame store's manifest.json (the store is its directory)."""
        return f"{self.work}/data/{dataset}/frames/manifest.json"

    def frames_shard(self, dataset: str, shard: int) -> str:
        return f"{self.work}/data/{dataset}/frames/shard-{shard:05d}.parquet"

    def cache_manifest(self, dataset: str) -> str:
        """The decoded-clip cache's manifest.json (the cache is its directory; e3d.data.cache)."""
        return f"{self.work}/data/{dataset}/cache/manifest.json"

    def cache_frames(self, dataset: str) -> str:
        """The cache's one flat file of uint8 frames, read through a memory map."""
        return f"{self.work}/data/{dataset}/cache/frames.u8"

    # -- search -------------------------------------------------------------------------------------------
    def search_file(self, run: str, name: str) -> str:
        """One of a search run's outputs: arch.json, topk.json or trace.parquet."""
        return f"{self.work}/search/{run}/{name}"

    def search_arch(self, run: str) -> str:
        return self.search_file(run, "arch.json")

    def search_trace(self, run: str) -> str:
        return self.search_file(run, "trace.parquet")

    def search_state(self, run: str) -> str:
        """Resumable state, outside the outputs (Snakemake deletes those before a rerun)."""
        return f"{self.work}/search/.state/{run}"

    def kernel_variants(self) -> str:
        return f"{self.work}/search/x3d_kernel_variants.json"

    def search_log(self, run: str) -> str:
        return f"{self.logs}/search/{run}.log"

    def search_benchmark(self, run: str) -> str:
        """The search job's wall time and CPU use: Table 4 reports search cost from it."""
        return f"{self.logs}/search/{run}.benchmark.tsv"

    # -- train, evaluate, profile -------------------------------------------------------------------------
    def train_file(self, dataset: str, model: str, name: str) -> str:
        """One of a training run's outputs: model.pt, metrics.parquet or arch.json."""
        return f"{self.work}/train/{dataset}/{model}/{name}"

    def train_state(self, dataset: str, model: str) -> str:
        """Resumable state, outside the outputs (Snakemake deletes those before a rerun)."""
        return f"{self.work}/train_state/{dataset}/{model}"

    def eval_metrics(self, dataset: str, model: str, eval_kind: str = "multiview") -> str:
        return f"{self.work}/eval/{dataset}/{model}/{eval_kind}.metrics.json"

    def eval_scores(self, dataset: str, model: str, eval_kind: str) -> str:
        return f"{self.work}/eval/{dataset}/{model}/{eval_kind}.scores.parquet"

    def profile(self, dataset: str, model: str) -> str:
        return f"{self.work}/profile/{dataset}/{model}/profile.json"

    def paper_input_profile(self, arch: str) -> str:
        """An untrained built-in architecture profiled at its paper input (Table 13); outside work/profile/, whose
        {dataset}/{model} pattern would also match it."""
        return f"{self.work}/profile_paper_input/{arch}/profile.json"

    def paper_input_profile_log(self, arch: str) -> str:
        return f"{self.logs}/profile_paper_input/{arch}.log"

    def paper_input_profile_benchmark(self, arch: str) -> str:
        """The profile job's wall time (how long the paper-input measurement took on this machine)."""
        return f"{self.logs}/profile_paper_input/{arch}.benchmark.tsv"

    # -- DARTS-P3D ----------------------------------------------------------------------------------------
    def darts_genotype(self, dataset: str) -> str:
        return f"{self.work}/darts/{dataset}/genotype.json"

    def darts_metrics(self, dataset: str) -> str:
        return f"{self.work}/darts/{dataset}/metrics.parquet"

    def darts_log(self, dataset: str) -> str:
        return f"{self.logs}/darts/{dataset}.log"

    def darts_benchmark(self, dataset: str) -> str:
        return f"{self.logs}/darts/{dataset}.benchmark.tsv"

    # -- training-free baselines --------------------------------------------------------------------------
    def fig3_dir(self) -> str:
        """Figure 3's sampled models (models.parquet, specs/) and per-dataset correlations."""
        return f"{self.work}/baselines/fig3"

    def fig3_spec(self, model: str) -> str:
        return f"{self.fig3_dir()}/specs/{model}.json"

    def table7_dir(self) -> str:
        """Table 7's generated entrants: the contracted X3Ds and the random architectures (specs/<entrant>.json)."""
        return f"{self.work}/baselines/table7"

    def table7_spec(self, entrant: str) -> str:
        return f"{self.table7_dir()}/specs/{entrant}.json"

    # -- results ------------------------------------------------------------------------------------------
    def table_log(self, stem: str) -> str:
        """The log of the rule that builds results/{stem}.*"""
        return f"{self.logs}/tables/{stem}.log"

    def result(self, stem: str, suffix: str) -> str:
        """A table or figure file: results/{stem}.{suffix} (csv, html, parquet, meta.json, png)."""
        return f"{self.results}/{stem}.{suffix}"
