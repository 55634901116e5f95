"""Helpers for workflow/rules/baselines.smk: the Figure 4, Figure 3 and Table 7 jobs the `baselines` config asks
for. Kept in the library so the rule file holds only rules and these are unit-testable.

The studies reuse the other stages rather than re-implementing them:
- Figure 3's sampled models and Table 7's searched models are *derived models* (`train_models`), trained and
  evaluated by the ordinary train/evaluate rules (TrainConfig.add_models); their names are known before sampling
  (fig3-000 ...), so the DAG is fixed when it is built.
- Table 7's searches are *derived search runs* (`search_runs`): the base run (paper: E3D-S's budget and input) with
  only the score, the iteration count and the score's options changed, run by the ordinary search rule.
"""

from __future__ import annotations

import json
from typing import Any

from e3d.baselines.correlation import model_name
from e3d.baselines.settings import SAMPLE_KEYS
from e3d.cliflags import quote_value, to_flags
from e3d.errors import E3DError
from e3d.layout import Layout
from e3d.score.registry import check_score_options
from e3d.tables.workflow import TablesConfig

FIG4_STEM = "fig4_forward_vs_analytic"
TABLE7_STEM = "table7_training_free"
FIG3_STEM = "fig3_correlation"
# The paper prints the searched models under their score's name; its STEntr-searched model is E3D-S.
TABLE7_LABELS = {"zen": "Zen-score", "madet": "MAE-DET score", "stentr": "E3D-S", "homoentr": "E3D-S (HomoEntr)",
                 "forward": "Forward entropy"}


class BaselinesConfigError(E3DError, ValueError):
    """A baselines setting that names a search run, model or dataset the config does not have."""


class BaselinesConfig:
    """The `baselines` section (with `search`, `models`, `tables`) as the rule file needs it."""

    def __init__(self, config: dict[str, Any]):
        self.layout = Layout.from_config(config)
        self.cfg = config["baselines"]
        self.seed = int(config["seed"])
        self.configured_runs = config["search"]["runs"]
        self.models = config["models"]
        self.tables = TablesConfig(config)
        self.fig4 = self.cfg["fig4"]
        self.fig3 = self.cfg["fig3"]
        self.table7 = self.cfg["table7"]
        if self.table7["enabled"]:
            base = self.table7["base_run"]
            if base not in self.configured_runs:
                raise BaselinesConfigError(f"config: baselines.table7.base_run {base!r} is not a search run "
                                           f"(search.runs has {sorted(self.configured_runs)})")
            bm = self.table7["baseline_model"]
            if bm is not None and bm not in self.models:
                raise BaselinesConfigError(f"config: baselines.table7.baseline_model {bm!r} is not in models "
                                           f"(have {sorted(self.models)})")
            for score, opts in self.table7["score_options"].items():
                if score not in self.table7["scores"]:
                    raise BaselinesConfigError(f"config: baselines.table7.score_options has {score!r}, which is not "
                                               f"in baselines.table7.scores {self.table7['scores']}")
                try:
                    check_score_options(score, opts)
                except E3DError as exc:
                    raise BaselinesConfigError(f"config: baselines.table7.score_options.{score}: {exc}") from exc
        if self.fig3["enabled"] and not self.fig3["gflops_min"] < self.fig3["gflops_max"]:
            raise BaselinesConfigError("config: baselines.fig3 needs gflops_min < gflops_max, got "
                                       f"{self.fig3['gflops_min']} and {self.fig3['gflops_max']}")

    # -- datasets -------------------------------------------------------------------------------------------

    def _dataset(self, name: str | None) -> str:
        return name if name else self.tables.first_dataset

    @property
    def fig3_dataset(self) -> str:
        """The dataset name of Figure 3's target (a data.datasets entry or a paper name such as sthv1)."""
        return self._dataset(self.fig3["dataset"])

    @property
    def table7_dataset(self) -> str:
        return self._dataset(self.table7["dataset"])

    def data_name(self, dataset: str) -> str:
        """The data.datasets entry a target's dataset stands for (error naming how to configure its root)."""
        return self.tables.data_name(dataset)

    # -- derived search runs and models ---------------------------------------------------------------------

    def table7_run(self, score: str) -> str:
        return f"table7_{score}"

    def table7_model(self, score: str) -> str:
        return f"table7-{score}"

    def search_runs(self) -> dict[str, dict[str, Any]]:
        """{run: settings} of the Table 7 searches: the base run with the score, iterations (and population)
        replaced, so every score searches the same space under the same budget and input size."""
        if not self.table7["enabled"]:
            return {}
        base = dict(self.configured_runs[self.table7["base_run"]])
        out = {}
        for score in self.table7["scores"]:
            run = {**base, "score": score, "iterations": self.table7["iterations"],
                   "score_options": dict(self.table7["score_options"].get(score, {}))}
            if self.table7["population"] is not None:
                run["population"] = self.table7["population"]
            out[self.table7_run(score)] = run
        return out

    def _model_entry(self, arch: str, section: dict[str, Any]) -> dict[str, Any]:
        return {"arch": arch, "se_ratio": section["model"]["se_ratio"], "act": section["model"]["act"],
                "settings": dict(section["settings"])}

    def fig3_models(self) -> list[str]:
        return [model_name(i) for i in range(self.fig3["n"])] if self.fig3["enabled"] else []

    def fig3_dir(self) -> str:
        return self.layout.fig3_dir()

    def fig3_spec(self, model: str) -> str:
        return self.layout.fig3_spec(model)

    def train_models(self) -> dict[str, dict[str, Any]]:
        """The models the studies train: each Figure 3 sample (its spec file, the short schedule) and each Table 7
        search's result (search:RUN)."""
        out = {m: self._model_entry(f"spec:{self.fig3_spec(m)}", self.fig3) for m in self.fig3_models()}
        if self.table7["enabled"]:
            for score in self.table7["scores"]:
                out[self.table7_model(score)] = self._model_entry(f"search:{self.table7_run(score)}", self.table7)
        return out

    # -- inputs ---------------------------------------------------------------------------------------------

    def evals(self, dataset: str, models: list[str]) -> list[str]:
        data = self.data_name(dataset)
        return [self.layout.eval_metrics(data, m) for m in models]

    def fig3_evals(self, dataset: str | None = None) -> list[str]:
        return self.evals(dataset or self.fig3_dataset, self.fig3_models())

    def fig3_accuracy_args(self, evals: list[str]) -> str:
        """`--accuracy MODEL=PATH ...` for `e3d baselines fig3-correlate`; the model is the path's directory."""
        from pathlib import PurePath

        return " ".join(quote_value(f"{PurePath(p).parent.name}={p}") for p in evals)

    def table7_runs(self) -> list[str]:
        return [self.table7_run(s) for s in self.table7["scores"]]

    def table7_archs(self) -> list[str]:
        return [self.layout.search_arch(r) for r in self.table7_runs()]

    def table7_evals(self, dataset: str | None = None) -> list[str]:
        models = [self.table7_model(s) for s in self.table7["scores"]]
        if self.table7["baseline_model"]:
            models.append(self.table7["baseline_model"])
        return self.evals(dataset or self.table7_dataset, models)

    def table7_params(self, dataset: str | None = None) -> dict[str, Any]:
        """What the Table 7 builder needs beside its inputs: which trained model each run became, row labels."""
        return {
            **self.tables.common_params(dataset or self.table7_dataset),
            "dataset": dataset or self.table7_dataset,
            "search_device": self.tables.search_device(),
            "run_models": {self.table7_run(s): self.table7_model(s) for s in self.table7["scores"]},
            "run_labels": {self.table7_run(s): TABLE7_LABELS.get(s, s) for s in self.table7["scores"]},
            "baseline_model": self.table7["baseline_model"],
            "iterations": self.table7["iterations"],
        }

    # -- command lines --------------------------------------------------------------------------------------

    def fig4_args(self) -> str:
        f = self.fig4
        return to_flags({"repeats": f["repeats"], "channels": f["channels"], "batch_size": f["batch_size"],
                         "device": f["device"], "threads": f["threads"], "seed": self.seed})

    def fig4_device(self) -> str:
        """Where Figure 4 is timed, as its caption says it."""
        if self.fig4["device"] == "cpu":
            return f"{self.tables.search_device()}, {self.fig4['threads'] or 'all'} torch thread(s)"
        return f"{self.fig4['device']} (a GPU when present, else the CPU)"

    def fig3_sample_args(self) -> str:
        f = self.fig3
        return to_flags({**{k: f[k] for k in SAMPLE_KEYS}, "seed": self.seed, "scores": f["scores"]})

    def fig3_correlate_args(self) -> str:
        f = self.fig3
        return to_flags({"metrics": [*f["scores"], "gflops", "params_m"], "n_boot": f["n_boot"],
                         "confidence": f["confidence"], "seed": self.seed})

    def fig3_params(self) -> dict[str, Any]:
        """The params Figure 3's caption quotes."""
        f = self.fig3
        return {"device": self.tables.device(), "flops_convention": self.tables.common_params()["flops_convention"],
                "n_models": f["n"], "method": "Kendall tau (left) and Spearman rho (right)",
                "confidence": f"{100 * f['confidence']:g}%", "n_boot": f["n_boot"],
                "settings": json.dumps(f["settings"], sort_keys=True)}

    # -- targets --------------------------------------------------------------------------------------------

    def targets(self) -> list[str]:
        out = []
        if self.fig4["enabled"]:
            out.append(self.layout.result(FIG4_STEM, "png"))
        if self.fig3["enabled"]:
            out.append(self.layout.result(f"{FIG3_STEM}_{self.fig3_dataset}", "png"))
        if self.table7["enabled"]:
            out.append(self.layout.result(f"{TABLE7_STEM}_{self.table7_dataset}", "csv"))
        return out
