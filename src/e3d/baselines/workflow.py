"""Helpers for workflow/rules/baselines.smk: the Figure 4, Figure 3 and Table 7 jobs the `baselines` config asks
for. Kept in the library so the rule file holds only rules and these are unit-testable.

The studies reuse the other stages rather than re-implementing them:
- Figure 3's sampled models and Table 7's searched models are *derived models* (`train_models`), trained and
  evaluated by the ordinary train/evaluate rules (TrainConfig.add_models); their names are known before sampling
  (fig3-000 ...), so the DAG is fixed when it is built.
- Table 7's searches are *derived search runs* (`search_runs`): the base run (paper: E3D-S's budget and input) with
  only the score, the iteration count and the score's options changed, run by the ordinary search rule.
- Table 7 is the main comparison at one budget: besides one search per score, the hand-designed `baseline_model`,
  X3D-S contracted to the budget (`x3d`: one spec per expansion axis, rule table7_x3d) and `random` architectures
  sampled from the same space within the budget (rule table7_random). Each of these *entrants* is trained under
  one schedule (`settings`) once per training seed (`seeds`): model `table7-{entrant}-seed{seed}`.
- `long_settings` adds the same comparison under a longer schedule (the *long* schedule: models
  `table7long-{entrant}-seed{seed}`, results/table7long_training_free_{dataset}.csv), to see whether the ranking
  holds once the models reach a plateau; the default runs it in `snakemake study`.
"""

from __future__ import annotations

import json
from typing import Any

from e3d.baselines.correlation import model_name
from e3d.baselines.settings import SAMPLE_KEYS
from e3d.cliflags import quote_value, to_flags
from e3d.errors import E3DError
from e3d.layout import TABLE7_SCHEDULES, Layout, table7_stem
from e3d.score.registry import check_score_options
from e3d.tables.workflow import TablesConfig

FIG4_STEM = "fig4_forward_vs_analytic"
FIG3_STEM = "fig3_correlation"
RANDOM_NAMES = "random-{index}"  # Table 7's random architectures (entrants), as fig3-sample names them
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
        self.single_frame = bool(config["evaluate"]["single_frame_control"])
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
        if self.table7["enabled"] and 0 < self.table7["random"] < 3:
            raise BaselinesConfigError(f"config: baselines.table7.random is {self.table7['random']}: 0 (none) or at least "
                                       "3 (the sampler draws at least 3 architectures, as for Figure 3)")
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

    def table7_model(self, entrant: str, seed: int, schedule: str = "") -> str:
        """The model trained from a Table 7 entrant with one training seed under one of TABLE7_SCHEDULES."""
        return f"{TABLE7_SCHEDULES[schedule]}-{entrant}-seed{seed}"

    def table7_schedules(self) -> list[str]:
        """The schedules Table 7 is trained under: the main one, and the long one where `long_settings` is set."""
        if not self.table7["enabled"]:
            return []
        return ["", *(["long"] if self.table7["long_settings"] is not None else [])]

    def table7_settings(self, schedule: str = "") -> dict[str, Any]:
        """The schedule's settings (train.settings keys over train.settings): the long one over the main one."""
        if schedule == "long":
            return {**self.table7["settings"], **self.table7["long_settings"]}
        return dict(self.table7["settings"])

    def table7_stem(self, schedule: str = "") -> str:
        """The result file stem of Table 7 under a schedule, before `_{dataset}` (e3d.layout.table7_stem)."""
        return table7_stem(schedule)

    @property
    def table7_seeds(self) -> list[int]:
        return [int(s) for s in self.table7["seeds"]]

    @property
    def table7_base(self) -> dict[str, Any]:
        """The base search run's settings: the budget, layer cap and input every entrant shares."""
        return self.configured_runs[self.table7["base_run"]]

    def table7_x3d_entrant(self, expand: str) -> str:
        return f"x3d-{expand}"

    def table7_random_entrant(self, index: int) -> str:
        return RANDOM_NAMES.format(index=index)

    def table7_random_entrants(self) -> list[str]:
        return [self.table7_random_entrant(i) for i in range(self.table7["random"])]

    def table7_spec(self, entrant: str) -> str:
        return self.layout.table7_spec(entrant)

    def table7_entrants(self) -> dict[str, dict[str, Any]]:
        """{entrant: {arch, kind, label, run, options}} in the table's order: the searches (one per score), the
        hand-designed model, the contracted X3Ds, the random architectures. `options` are the models-entry keys
        (se_ratio, act, dropout) the entrant is trained with."""
        if not self.table7["enabled"]:
            return {}
        study = {k: self.table7["model"][k] for k in ("se_ratio", "act")}
        out: dict[str, dict[str, Any]] = {}
        for score in self.table7["scores"]:
            out[score] = {"arch": f"search:{self.table7_run(score)}", "kind": "searched", "run": self.table7_run(score),
                          "label": TABLE7_LABELS.get(score, score), "options": study}
        bm = self.table7["baseline_model"]
        if bm:
            entry = self.models[bm]
            out[bm] = {"arch": entry["arch"], "kind": "hand-designed", "run": "", "label": bm,
                       "options": {k: entry.get(k) for k in ("se_ratio", "act", "dropout")}}
        for expand in self.table7["x3d"]:
            name = self.table7_x3d_entrant(expand)
            # X3D keeps its own SE pattern and activations
            out[name] = {"arch": f"spec:{self.table7_spec(name)}", "kind": "x3d", "run": "",
                         "label": f"X3D ({expand}-contracted)", "options": {}}
        for name in self.table7_random_entrants():
            out[name] = {"arch": f"spec:{self.table7_spec(name)}", "kind": "random", "run": "",
                         "label": f"Random {name.split('-')[1]}", "options": study}
        return out

    def table7_models(self, schedule: str = "") -> dict[str, list[str]]:
        """{entrant: its trained models under the schedule, one per seed}."""
        return {e: [self.table7_model(e, s, schedule) for s in self.table7_seeds] for e in self.table7_entrants()}

    def x3d_args(self, expand: str) -> str:
        base = self.table7_base
        return to_flags({"budget_gflops": base["budget_gflops"], "resolution": base["resolution"],
                         "frames": base["frames"], "expand": expand, "name": self.table7_x3d_entrant(expand)})

    def random_args(self) -> str:
        """`e3d baselines fig3-sample` flags that draw Table 7's random architectures: the base run's space, layer cap
        and input, FLOPs within [random_min_fraction x budget, budget], one bin (no spreading: plain random)."""
        base, t = self.table7_base, self.table7
        budget = float(base["budget_gflops"])
        return to_flags({"n": t["random"], "gflops_min": t["random_min_fraction"] * budget, "gflops_max": budget,
                         "resolution": base["resolution"], "frames": base["frames"],
                         "max_layers": base["max_layers"], "bins": 1,
                         "name_format": RANDOM_NAMES,
                         "seed": self.seed, "scores": "stentr,homoentr"})

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
        """The models the studies train: each Figure 3 sample (its spec file, `fig3.settings`) and each Table 7
        entrant once per seed (its schedule, the seed in its settings)."""
        out = {m: self._model_entry(f"spec:{self.fig3_spec(m)}", self.fig3) for m in self.fig3_models()}
        for schedule in self.table7_schedules():
            for entrant, e in self.table7_entrants().items():
                for seed in self.table7_seeds:
                    out[self.table7_model(entrant, seed, schedule)] = {
                        "arch": e["arch"], **{k: v for k, v in e["options"].items() if v is not None},
                        "settings": {**self.table7_settings(schedule), "seed": seed}}
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

    def run_models(self) -> dict[str, list[str]]:
        """{Table 7 search run: the models trained from it, one per seed}."""
        models = self.table7_models()
        return {e["run"]: models[name] for name, e in self.table7_entrants().items() if e["run"]}

    def table7_model_names(self, schedule: str = "") -> list[str]:
        return [m for models in self.table7_models(schedule).values() for m in models]

    def table7_evals(self, dataset: str | None = None, eval_kind: str = "multiview", schedule: str = "") -> list[str]:
        data = self.data_name(dataset or self.table7_dataset)
        return [self.layout.eval_metrics(data, m, eval_kind) for m in self.table7_model_names(schedule)]

    def table7_on(self, dataset: str) -> bool:
        """Whether Table 7's models are trained on this table dataset (Table 3 then lists them too)."""
        return bool(self.table7["enabled"]) and dataset == self.table7_dataset

    def table7_inputs(self, dataset: str | None = None, schedule: str = "") -> dict[str, list[str]]:
        """Table 7's inputs under a schedule: the searches, every seed's evaluation (and repeated-frame control),
        and the network as trained of each entrant (its first seed's arch.json) for the analytic scores."""
        data = self.data_name(dataset or self.table7_dataset)
        names = self.table7_model_names(schedule)
        out = {"archs": self.table7_archs(), "evals": self.table7_evals(dataset, schedule=schedule),
               "trained_archs": [self.layout.train_file(data, models[0], "arch.json")
                                 for models in self.table7_models(schedule).values()],
               "train_metrics": [self.layout.train_file(data, m, "metrics.parquet") for m in names]}
        if self.single_frame:
            out["single"] = self.table7_evals(dataset, "single_frame", schedule)
        return out

    def table7_params(self, dataset: str | None = None, schedule: str = "") -> dict[str, Any]:
        """What the Table 7 builder needs beside its inputs: which trained model each run became, row labels."""
        return {
            **self.tables.common_params(dataset or self.table7_dataset),
            "dataset": dataset or self.table7_dataset,
            "search_device": self.tables.search_device(),
            "entrants": [{"entrant": name, "label": e["label"], "kind": e["kind"], "run": e["run"],
                          "models": models}
                         for (name, e), models in zip(self.table7_entrants().items(),
                                                      self.table7_models(schedule).values())],
            "seeds": self.table7_seeds,
            "iterations": self.table7["iterations"],
            "settings": json.dumps(self.table7_settings(schedule), sort_keys=True),
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

    def targets(self) -> list[tuple[list[str], str | None]]:
        """(paths, the study they belong to, e3d.targets.STUDIES, or None) per enabled study."""
        out: list[tuple[list[str], str | None]] = []
        if self.fig4["enabled"]:
            out.append(([self.layout.result(FIG4_STEM, "png")], None))
        if self.fig3["enabled"]:
            out.append(([self.layout.result(f"{FIG3_STEM}_{self.fig3_dataset}", "png")], "fig3"))
        for schedule in self.table7_schedules():
            out.append(([self.layout.result(f"{self.table7_stem(schedule)}_{self.table7_dataset}", "csv")],
                        "table7_long" if schedule == "long" else None))
        return out
