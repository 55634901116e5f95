"""Which products `snakemake all` builds and which only `snakemake study` builds (config `study`).

`all` must stay a run of minutes on a laptop-class CPU while `study` is the whole experiment: the config's `study`
section names the `models` entries trained only by `study` and the studies run only by it (Figure 3, the DARTS
search). Every rule file adds its targets here together with the models they need; a target that needs a
study-only model (or belongs to a study-only study) is a `study` target. `study` builds both lists.
No Snakemake here: the rule files call it while the DAG is built, the tests call it directly.
"""

from __future__ import annotations

from typing import Any, Iterable

from e3d.errors import E3DError

STUDIES = ("fig3", "darts", "table7_long")


class TargetsConfigError(E3DError, ValueError):
    """A `study` entry that names no model of the config."""


class Targets:
    def __init__(self, config: dict[str, Any]):
        study = config.get("study") or {}  # the schema fills it; hand-made test configs may leave it out
        self.study_models = list(study.get("models", ()))
        unknown = sorted(set(self.study_models) - set(config["models"]))
        if unknown:
            raise TargetsConfigError(f"config: study.models names {unknown}, not in models "
                                     f"(have {sorted(config['models'])})")
        self.study_only = {name: bool(study.get(name, False)) for name in STUDIES}
        self.all: list[str] = []
        self.study: list[str] = []

    def is_study_model(self, model: str) -> bool:
        return model in self.study_models

    def main_models(self, models: Iterable[str]) -> list[str]:
        """Those of `models` that `all` trains."""
        return [m for m in models if m not in self.study_models]

    def add(self, paths: Iterable[str], models: Iterable[str] = (), study: str | None = None) -> None:
        """Targets that need `models` trained (and belong to `study`, one of STUDIES, if given)."""
        only = any(self.is_study_model(m) for m in models) or (study is not None and self.study_only[study])
        (self.study if only else self.all).extend(paths)
