"""Helpers for workflow/rules/train.smk: each (dataset, model)'s settings, architecture input and resources.

Kept in the library so the rule file holds only rules and these are unit-testable.
"""

from __future__ import annotations

from typing import Any

from e3d.cliflags import quote_value, to_flags
from e3d.layout import Layout
from e3d.model_kinds import MODEL_KINDS, kind_of_reference, load, parse_reference
from e3d.train.settings import TrainSettings


# The spec family's config references (declared in e3d.model_kinds): fn(value, config) -> (file the train job
# depends on or None, `e3d train --arch` reference).
def spec_file_source(value: str, config: dict[str, Any]) -> tuple[str | None, str]:
    return value, f"spec:{value}"


def search_run_source(value: str, config: dict[str, Any]) -> tuple[str | None, str]:
    """`search:RUN` names a run of the search stage: its arch.json."""
    path = Layout.from_config(config).search_arch(value)
    return path, f"search:{path}"


def profiled(entry: dict[str, Any]) -> bool:
    """Whether the profile rule applies to a models entry: it counts a spec, so not for models that are no spec
    (DARTS) or change one (SGS)."""
    kind = kind_of_reference(entry["arch"])
    if kind is not None and not kind.profiled:
        return False
    return all(kind.profiled or entry.get(kind.entry_block[0]) is None for kind in MODEL_KINDS if kind.entry_block)


class TrainConfig:
    """The `train`, `models` and `evaluate` config sections as the rule file needs them."""

    def __init__(self, config: dict[str, Any]):
        self.config = config
        self.layout = Layout.from_config(config)
        self.train = config["train"]
        # a copy: other stages add the models they derive (add_models) without changing config["models"]
        self.models: dict[str, dict[str, Any]] = dict(config["models"])
        self.eval = config["evaluate"]
        self.eval_kinds = ["multiview"] + (["single_frame"] if self.eval["single_frame_control"] else [])
        self.gpus = int(self.train["resources"]["gpus"])
        chosen = self.train.get("models")
        unknown = sorted(set(chosen or ()) - set(self.models))
        if unknown:
            raise ValueError(f"config: train.models names {unknown}, not in models (have {sorted(self.models)})")
        self.trained = list(chosen) if chosen is not None else list(self.models)

    def add_models(self, models: dict[str, dict[str, Any]]) -> None:
        """Models another stage derives (the Figure 3 samples, the Table 7 searches): trainable by the train and
        evaluate rules like any configured model, but not in this stage's own targets (their stage asks for them)."""
        clash = sorted(set(models) & set(self.models))
        if clash:
            raise ValueError(f"config: models {clash} are both configured and derived by another stage; rename them")
        self.models.update(models)

    def settings(self, dataset: str, model: str) -> dict[str, Any]:
        """train.settings, then the dataset's overrides, then the model's; checked here so a bad value fails
        when the DAG is built, naming the dataset and model."""
        merged = dict(self.train["settings"])
        merged.update(self.train["dataset_settings"].get(dataset, {}))
        merged.update(self._model(model).get("settings", {}))
        try:
            return TrainSettings.from_dict(merged).to_dict()
        except Exception as exc:
            raise ValueError(f"config: training settings for dataset {dataset!r}, model {model!r}: {exc}") from exc

    def settings_arg(self, dataset: str, model: str) -> str:
        return quote_value(self.settings(dataset, model))

    def _model(self, model: str) -> dict[str, Any]:
        if model not in self.models:
            raise ValueError(f"config: no model {model!r} in models (have {sorted(self.models)})")
        return self.models[model]

    def arch_source(self, model: str) -> tuple[str | None, str]:
        """(file the rule depends on, or None; the reference passed to `e3d train --arch`): the entry's `arch:` as
        its model kind reads a config reference, wrapped by the kind of each models-entry block it has (`sgs:`)."""
        entry = self._model(model)
        path, ref = self._base_source(entry["arch"])
        for kind in MODEL_KINDS:
            if kind.entry_block and entry.get(kind.entry_block[0]) is not None:
                ref = load(kind.entry_block[1])(ref, entry[kind.entry_block[0]], self.config)
        return path, ref

    def _base_source(self, ref: str) -> tuple[str | None, str]:
        ref_kind, value = parse_reference(ref)
        kind = kind_of_reference(ref)
        if kind is not None and ref_kind in kind.workflow_refs:
            return load(kind.workflow_refs[ref_kind])(value, self.config)
        return None, ref

    def profiled(self, model: str) -> bool:
        return profiled(self._model(model))

    def init_file(self, model: str) -> str | None:
        """The checkpoint a models entry's `init:` names (initial weights for fine-tuning), or None."""
        return self._model(model).get("init")

    def init_digest(self, model: str) -> str:
        """Content digest of the init checkpoint, a param of the train job: a replaced file retrains even when its
        modification time does not say so. "" for none; "missing" lets Snakemake report the absent input."""
        from e3d.provenance import file_content_digest

        path = self.init_file(model)
        if not path:
            return ""
        try:
            return file_content_digest(path)
        except OSError:
            return "missing"

    def arch_inputs(self, model: str) -> list[str]:
        path = self.arch_source(model)[0]
        return [p for p in (path, self.init_file(model)) if p]

    def arch_arg(self, model: str) -> str:
        return quote_value(self.arch_source(model)[1])

    def model_flags(self, model: str) -> str:
        """The models entry's overrides of its architecture as `e3d train` flags (those it leaves null are left
        out)."""
        m = self._model(model)
        return to_flags({key: m.get(key) for key in ("se_ratio", "act", "dropout", "init")})

    def resources(self) -> dict[str, Any]:
        """For the SLURM executor: gpu/gpu_model/cpus_per_gpu only when GPUs are asked for. Never `tasks`:
        the plugin would make it --ntasks-per-gpu and start the job once per GPU; torchrun starts the processes."""
        r = self.train["resources"]
        res: dict[str, Any] = {"mem_mb": r["mem_mb"], "runtime": r["runtime"]}
        if self.gpus > 0:
            res.update(gpu=self.gpus, cpus_per_gpu=r["cpus_per_gpu"])
            if r["gpu_model"]:
                res["gpu_model"] = r["gpu_model"]
        return res

    def threads(self) -> int:
        r = self.train["resources"]
        return self.gpus * r["cpus_per_gpu"] if self.gpus > 0 else r["cpus"]

    def conda_env(self) -> str:
        return "../../envs/gpu.yaml" if self.gpus > 0 else "../../envs/cpu.yaml"

    def model_targets(self, datasets: list[str] | None = None) -> dict[str, list[str]]:
        """{model: its evaluations (and profile) on every training dataset}."""
        out: dict[str, list[str]] = {}
        for m in self.trained:
            for ds in datasets or self.train["datasets"]:
                out.setdefault(m, []).extend(self.layout.eval_metrics(ds, m, k) for k in self.eval_kinds)
                if self.profiled(m):
                    out[m].append(self.layout.profile(ds, m))
        return out

    def targets(self, datasets: list[str] | None = None) -> list[str]:
        return [p for paths in self.model_targets(datasets).values() for p in paths]

