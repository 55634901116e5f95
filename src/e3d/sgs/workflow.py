"""Helpers for workflow/rules/sgs.smk: which models entries carry SGS, the model each is compared with, and the
inputs of results/table_sgs_{dataset}.csv.

Also the training stage's hook for the models-entry block `sgs:` (the sgs model kind, declared in
e3d.model_kinds): an entry `{arch: BASE_REF, sgs: {settings}}` trains the base architecture with one SGS layer
inserted, through the ordinary train rule. No torch here: rule files import this while Snakemake builds the DAG.
"""

from __future__ import annotations

import json
from typing import Any

from e3d.errors import E3DError
from e3d.layout import Layout

KEY = "sgs"
# What must agree between an SGS model and its base for the comparison to isolate SGS.
PAIR_KEYS = ("arch", "se_ratio", "act", "dropout", "settings")


class SGSWorkflowError(E3DError, ValueError):
    """An SGS model without a base to compare with, or a bad `sgs.bases` entry."""


def wrap_entry(ref: str, block: dict[str, Any], config: dict[str, Any]) -> str:
    """A models entry's `sgs:` block -> the sgs: reference that inserts the layer into the entry's `arch:`."""
    return f"{KEY}:" + json.dumps({"base": ref, "sgs": dict(block)}, sort_keys=True)


class SGSConfig:
    """The `sgs` section (with `models`, `train`) as sgs.smk needs it."""

    def __init__(self, config: dict[str, Any]):
        self.layout = Layout.from_config(config)
        self.cfg = config["sgs"]
        self.models: dict[str, dict[str, Any]] = config["models"]
        self.datasets = list(self.cfg["datasets"]) if self.cfg.get("datasets") is not None \
            else list(config["train"]["datasets"])
        chosen = self.cfg.get("models")
        if chosen is None:
            trained = config["train"].get("models")
            names = trained if trained is not None else self.models
            chosen = [m for m in names if self.models[m].get(KEY) is not None]
        for m in chosen:
            if m not in self.models or self.models[m].get(KEY) is None:
                raise SGSWorkflowError(f"config: sgs.models names {m!r}, which is not a models entry with an "
                                       f"`sgs:` block")
        self.sgs_models = list(chosen)
        for m, b in self.cfg["bases"].items():
            if m not in self.models or self.models[m].get(KEY) is None:
                raise SGSWorkflowError(f"config: sgs.bases names {m!r}, which is not a models entry with an "
                                       f"`sgs:` block")
            if b not in self.models or self.models[b].get(KEY) is not None:
                raise SGSWorkflowError(f"config: sgs.bases.{m}: {b!r} is not a models entry without SGS")

    def base(self, model: str) -> str:
        """The models entry the SGS model is compared with: sgs.bases, else the one entry without SGS with the
        same arch, se_ratio, act and settings."""
        if model in self.cfg["bases"]:
            return self.cfg["bases"][model]
        entry = self.models[model]
        found = [m for m, e in self.models.items()
                 if e.get(KEY) is None and all(e.get(k) == entry.get(k) for k in PAIR_KEYS)]
        if not found:
            raise SGSWorkflowError(
                f"config: SGS model {model!r} has no base to compare with: add a models entry with arch "
                f"{entry['arch']!r} (and the same se_ratio, act, settings) and no `sgs:` block, or name one in "
                f"sgs.bases")
        return found[0]

    def pairs(self) -> dict[str, str]:
        return {m: self.base(m) for m in self.sgs_models}

    def evals(self, dataset: str) -> dict[str, list[str]]:
        pairs = self.pairs()
        bases = list(dict.fromkeys(pairs.values()))
        return {"base_evals": [self.layout.eval_metrics(dataset, m) for m in bases],
                "sgs_evals": [self.layout.eval_metrics(dataset, m) for m in pairs]}

    def table_params(self, dataset: str) -> dict[str, Any]:
        return {"dataset": dataset, "pairs": self.pairs()}

    def targets(self) -> list[str]:
        if not self.sgs_models:
            return []
        return [self.layout.result(f"table_sgs_{ds}", "csv") for ds in self.datasets]
