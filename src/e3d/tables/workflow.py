"""Helpers for workflow/rules/tables.smk: which tables exist for the configured datasets, each one's input
artifacts, and the params its caption quotes. Kept in the library so the rule file holds only rules.

Table datasets are named as in the file names (results/table3_k400.csv). A name is a `data.datasets` entry, or
one of the paper's names (k400, sthv1, sthv2), which stands for the one configured dataset of that format: with
config/paper.yaml, results/table3_k400.csv is built from the dataset configured with `format: kinetics400`.
"""

from __future__ import annotations

from typing import Any

from e3d.arch.builtins import builtin_names, get_builtin
from e3d.errors import E3DError
from e3d.hostinfo import cpu_model_name
from e3d.layout import Layout
from e3d.model_kinds import parse_reference
from e3d.tables.report import FLOPS_CONVENTION
from e3d.train.workflow import profiled

# paper name -> (data format, how the paper names it)
PAPER_DATASETS = {"k400": ("kinetics400", "Kinetics-400"), "sthv1": ("sthv1", "Something-Something V1"),
                  "sthv2": ("sthv2", "Something-Something V2")}


class TablesConfigError(E3DError, ValueError):
    """A table asked for a dataset, search run or model the config does not have."""


class TablesConfig:
    """The `tables` section (with `data`, `search`, `train`, `models`, `evaluate`) as the rule file needs it."""

    def __init__(self, config: dict[str, Any]):
        self.layout = Layout.from_config(config)
        self.cfg = config["tables"]
        self.data = config["data"]["datasets"]
        self.search_runs = config["search"]["runs"]
        self.derived_run_models: dict[str, list[str]] = {}
        self.variants_enabled = bool(config["search"]["x3d_kernel_variants"]["enabled"])
        self.models = config["models"]
        chosen = config["train"].get("models")
        # every trained model; the tables that read all of them (Table 3, Figure 5, Tables 4/11/12/13) read only
        # those `snakemake all` trains, so `all` never trains a study-only model (config `study.models`) for them
        self.all_trained = list(chosen) if chosen is not None else list(self.models)
        study_models = set((config.get("study") or {}).get("models", ()))
        self.trained = [m for m in self.all_trained if m not in study_models]
        self.train_datasets = list(config["train"]["datasets"])
        self.evaluate = config["evaluate"]
        self.resources = config["train"]["resources"]
        self.datasets = list(self.cfg["datasets"]) if self.cfg.get("datasets") else self.train_datasets

    # -- datasets ---------------------------------------------------------------------------------------------

    def data_name(self, dataset: str) -> str:
        """The `data.datasets` entry a table's dataset name stands for; an error saying how to configure it."""
        if dataset in self.data:
            entry = self.data[dataset]
            if entry["format"] != "synthetic" and not entry.get("root"):
                raise TablesConfigError(self._no_root(dataset, entry["format"], dataset))
            return dataset
        if dataset in PAPER_DATASETS:
            fmt, _ = PAPER_DATASETS[dataset]
            names = [n for n, d in self.data.items() if d["format"] == fmt]
            if len(names) > 1:
                raise TablesConfigError(f"tables: dataset {dataset!r} is ambiguous: data.datasets {names} all have "
                                        f"format {fmt}; name the one to use {dataset!r}")
            if names and self.data[names[0]].get("root"):
                return names[0]
            raise TablesConfigError(self._no_root(dataset, fmt, names[0] if names else dataset))
        raise TablesConfigError(f"tables: no dataset {dataset!r}: data.datasets has {sorted(self.data)} "
                                f"(paper names {sorted(PAPER_DATASETS)} stand for the dataset of their format)")

    @staticmethod
    def _no_root(dataset: str, fmt: str, name: str) -> str:
        label = PAPER_DATASETS.get(dataset, (fmt, fmt))[1]
        return (f"the {dataset} data root is not configured: {label} videos are needed for this table. Set it in a "
                f"config file passed with --configfile (data: {{datasets: {{{name}: {{format: {fmt}, root: "
                f"/path/to/{fmt}}}}}}}) or on the command line: --config "
                f"'data={{\"datasets\": {{\"{name}\": {{\"format\": \"{fmt}\", \"root\": \"/path/to/{fmt}\"}}}}}}'")

    # -- inputs -----------------------------------------------------------------------------------------------

    def evals(self, dataset: str, models: list[str] | None = None) -> list[str]:
        data = self.data_name(dataset)
        return [self.layout.eval_metrics(data, m) for m in (self.trained if models is None else models)]

    def add_derived(self, search_runs: dict[str, Any], run_models: dict[str, list[str]]) -> None:
        """Search runs another stage derives (Table 7's, one per score) and the models trained from each (one per
        training seed): the tables that compare searches (Tables 4, 11, 12) can name them too."""
        self.search_runs = {**self.search_runs, **search_runs}
        self.derived_run_models = dict(run_models)

    def run_models(self, runs: list[str]) -> dict[str, list[str]]:
        """{search run: the trained models built from it}: the first configured model trained from the run, or
        the derived run's models (one per training seed; the tables show their mean)."""
        out: dict[str, list[str]] = {}
        for m in self.trained:
            kind, value = parse_reference(self.models[m]["arch"])
            if kind == "search" and value in runs and value not in out:
                out[value] = [m]
        for run, models in self.derived_run_models.items():
            if run in runs and run not in out:
                out[run] = list(models)
        return out

    def runs(self, key: str) -> list[str]:
        """The runs of a table that the search section has or another stage derives (Table 4: s/m/l, ...)."""
        return [r for r in self.cfg[key] if r in self.search_runs]

    def archs(self, runs: list[str]) -> list[str]:
        return [self.layout.search_arch(r) for r in runs]

    def benchmarks(self, runs: list[str]) -> list[str]:
        return [self.layout.search_benchmark(r) for r in runs]

    def traces(self) -> list[str]:
        return [self.layout.search_trace(r) for r in sorted(self.search_runs)]

    def search_evals(self, dataset: str, key: str) -> list[str]:
        return self.evals(dataset, [m for models in self.run_models(self.runs(key)).values() for m in models])

    def variant_evals(self, dataset: str) -> list[str]:
        return self.evals(dataset, self.variant_models())

    def variant_models(self) -> list[str]:
        """The trained models of Table 1's kernel-placement variants (study-only ones included)."""
        return [m for m in self.cfg["variant_models"].values() if m in self.all_trained]

    def profiles(self) -> list[str]:
        data = self.data_name(self.inference_dataset)
        return [self.layout.profile(data, m) for m in self.trained
                if profiled(self.models[m])]  # DARTS/SGS models have no spec profile

    def paper_models(self) -> list[str]:
        """tables.table13_paper_models: the built-ins Table 13 profiles untrained at their paper input."""
        names = list(self.cfg["table13_paper_models"])
        unknown = [n for n in names if n not in builtin_names()]
        if unknown:
            raise TablesConfigError(f"tables.table13_paper_models: no built-in architecture {unknown}; built-in names: "
                                    f"{', '.join(builtin_names())}")
        return names

    def paper_input_profiles(self) -> list[str]:
        return [self.layout.paper_input_profile(a) for a in self.paper_models()]

    def paper_inputs(self) -> str:
        """The paper inputs profiled, for Table 13's caption: "e3d-s 13x160^2, ..." (frames x crop^2)."""
        specs = [get_builtin(a) for a in self.paper_models()]
        return ", ".join(f"{s.name} {s.frames}x{s.resolution}^2" for s in specs) or "none (tables.table13_paper_models: [])"

    def paper_timing(self) -> str:
        """How the paper-input profiles were timed, for Table 13's caption."""
        t = self.cfg["table13_paper_timing"]
        return (f"batch 1: median of {t['single_clip_repeats']} passes after {t['single_clip_warmup']} warm-up; "
                f"batch 16 (after those): median of {t['batch_repeats']} after {t['batch_warmup']} warm-up")

    def table13_inputs(self) -> dict[str, list[str]]:
        """Table 13's inputs: the trained models' profiles and evaluations on tables.inference_dataset, and the
        built-ins' profiles at their paper input."""
        out = {"paper_profiles": self.paper_input_profiles()}
        if self.trained:
            out.update(profiles=self.profiles(), evals=self.evals(self.inference_dataset))
        return out

    @property
    def first_dataset(self) -> str:
        if not self.datasets:
            raise TablesConfigError("tables: no datasets (set tables.datasets or train.datasets)")
        return self.datasets[0]

    @property
    def search_cost_dataset(self) -> str:
        return self.cfg.get("search_cost_dataset") or self.first_dataset

    @property
    def inference_dataset(self) -> str:
        return self.cfg.get("inference_dataset") or self.first_dataset

    # -- params (quoted by the captions) ----------------------------------------------------------------------

    def device(self) -> str:
        if self.cfg.get("device"):
            return self.cfg["device"]
        r = self.resources
        if int(r["gpus"]) > 0:
            return f"{r['gpus']} x {r.get('gpu_model') or 'GPU'} (train.resources)"
        return f"CPU, {r['cpus']} cores (train.resources)"

    def search_device(self) -> str:
        return self.cfg.get("search_device") or cpu_model_name()

    def views(self, *datasets: str) -> str:
        """The test protocols in force: the default and each dataset's own (rows carry the views they used); only
        those of `datasets` (table dataset names) when given, so a table's params change only with its own data's."""
        from e3d.evaluate.protocol import describe, test_protocol

        e = self.evaluate
        parts = [f"crops x clips per row; default {describe(test_protocol(e))}"]
        wanted = {self.data_name(d) for d in datasets} if datasets else None
        for name, over in sorted((e.get("datasets") or {}).items()):
            if wanted is not None and name not in wanted:
                continue
            models = ", ".join(f"{m} {describe(test_protocol(e, name, m))}" for m in sorted(over.get("models") or {}))
            parts.append(f"{name}: {describe(test_protocol(e, name))}" + (f" [{models}]" if models else ""))
        return "; ".join(parts)

    def common_params(self, *datasets: str) -> dict[str, Any]:
        return {"device": self.device(), "views": self.views(*datasets), "flops_convention": FLOPS_CONVENTION}

    # -- targets ----------------------------------------------------------------------------------------------

    def sth_pair(self) -> bool:
        return all(d in self.datasets for d in ("sthv1", "sthv2"))

    def targets(self) -> list[tuple[list[str], list[str]]]:
        """(paths, the configured models they need trained) per table; Table 1 and Figure 2 need the variants'."""
        result = self.layout.result
        out: list[str] = []
        variants: list[str] = []
        # Unconfigured datasets are not checked here: a target that needs one fails when the DAG is built, with
        # how to configure it, while targets that do not (results/table3_k400.csv alone) still build.
        for ds in self.datasets:
            out.append(result(f"table3_{ds}", "csv"))
            out.append(result(f"fig5_accuracy_vs_gflops_{ds}", "png"))
            if self.variants_enabled:
                variants.append(result(f"table1_kernels_{ds}", "csv"))
                if len(self.variant_models()) >= 2:
                    variants.append(result(f"fig2_accuracy_vs_scores_{ds}", "png"))
            if self.runs("table11_runs"):
                out.append(result(f"table11_scores_{ds}", "csv"))
            if self.runs("table12_runs"):
                out.append(result(f"table12_kernel_space_{ds}", "csv"))
        if self.sth_pair():
            out.append(result("table2_sth", "csv"))
        if self.runs("table4_runs"):
            out.append(result("table4_search_cost", "csv"))
        if self.search_runs:
            out.append(result("search_traces", "png"))
        if self.cfg["table13"] and (self.trained or self.paper_models()):
            out.append(result("table13_inference", "csv"))
        return [(out, []), (variants, self.variant_models())]


def paper_input_flags(tables: dict[str, Any]) -> str:
    """`e3d profile` flags of the profile_paper_input rule from the tables section: the paper's batch 16 and
    tables.table13_paper_timing's passes (the single-clip ones run first)."""
    t = tables["table13_paper_timing"]
    return (f"--batch 16 --warmup {t['batch_warmup']} --repeats {t['batch_repeats']} "
            f"--single-clip-warmup {t['single_clip_warmup']} --single-clip-repeats {t['single_clip_repeats']}")
