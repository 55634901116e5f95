"""Writes the config-schema fragments that are generated from the settings dataclasses (e3d.settingspec).

Each settings block is declared once, as a dataclass; the files under workflow/schemas/generated/ are written from
those declarations and referenced from the hand-written section schemas. After changing a setting, run

    python -m e3d.schemagen --write

tests/test_schemagen.py fails while a committed file differs from what this writes (`--check` says the same).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Callable

import yaml

from e3d.config import REPO_ROOT

GENERATED_DIR = REPO_ROOT / "workflow" / "schemas" / "generated"


def train_settings() -> dict[str, Any]:
    from e3d.settingspec import object_schema
    from e3d.train.settings import TrainSettings

    return object_schema(TrainSettings, description="hyper-parameters shared by all runs "
                                                    "(e3d.train.settings.TrainSettings)")


def train_settings_keys() -> dict[str, Any]:
    """The keys a per-dataset or per-model override may set (no defaults there: a filled-in default would silently
    mask train.settings; the values are checked by TrainSettings when the rule builds its settings)."""
    from e3d.settingspec import key_names
    from e3d.train.settings import TrainSettings

    return {"enum": key_names(TrainSettings)}


def sgs_module() -> dict[str, Any]:
    from e3d.settingspec import object_schema
    from e3d.sgs.config import SGSConfig

    return object_schema(SGSConfig, object_default=False,
                         description="Similarity Guided Sampling inserted into the entry's architecture (the rest "
                                     "runs on B' frames); defaults are the authors' released configs")


def search_run() -> dict[str, Any]:
    from e3d.search.engine import RUN_KEYS, SPACE_KEY, SearchConfig
    from e3d.settingspec import object_schema

    schema = object_schema(SearchConfig, names=RUN_KEYS, object_default=False)
    schema["properties"] = {**SPACE_KEY, **schema["properties"]}
    return schema


def search_shared() -> dict[str, Any]:
    from e3d.search.engine import SHARED_KEYS, SearchConfig
    from e3d.settingspec import object_schema

    return object_schema(SearchConfig, names=SHARED_KEYS,
                         description="the search settings shared by every run (search.schema.yaml refers to each)")


def x3d_kernel_variants() -> dict[str, Any]:
    from e3d.search.variants import ENABLED_KEY, VariantsSettings
    from e3d.settingspec import object_schema

    schema = object_schema(VariantsSettings, description="paper Table 1 (X3D-S with S-N / T-N kernel placement), "
                                                         "HomoEntr and STEntr of each (python -m e3d.search.variants)")
    schema["properties"] = {**ENABLED_KEY, **schema["properties"]}
    return schema


def data_dataset() -> dict[str, Any]:
    """One entry of data.datasets: its keys, then its synth, extract and cache blocks."""
    from e3d.data.extract import CONFIG_KEYS, ExtractSettings
    from e3d.data.settings import CacheSettings, DatasetSettings
    from e3d.data.synth import SynthSettings
    from e3d.settingspec import object_schema

    return object_schema(DatasetSettings, object_default=False, extra={
        "synth": object_schema(SynthSettings, description="settings of `e3d synth` (format synthetic only)"),
        "extract": object_schema(ExtractSettings, names=CONFIG_KEYS, description="settings of `e3d extract`"),
        "cache": object_schema(CacheSettings, description="the decoded-clip cache (`e3d cache`) train and evaluate "
                                                          "read, when enabled"),
    })


def baselines() -> dict[str, Any]:
    """The baselines section's studies (the section's description stays in baselines.schema.yaml)."""
    from e3d.baselines.settings import (ENABLED, SAMPLE_KEYS, CorrelationSettings, Fig3Training, Fig4Settings,
                                        SampleConfig, StudyModel, Table7Settings)
    from e3d.settingspec import object_schema

    def props(cls: type, names: Any = None) -> dict[str, Any]:
        return object_schema(cls, names=names)["properties"]

    model = object_schema(StudyModel, description="how the study's models are built for training (as a `models` "
                                                  "entry)")
    correlation = props(CorrelationSettings)
    fig3 = {**ENABLED["fig3"], **props(SampleConfig, SAMPLE_KEYS), "scores": correlation["scores"],
            **props(Fig3Training), "model": model, "n_boot": correlation["n_boot"],
            "confidence": correlation["confidence"]}
    studies = {"fig4": {**ENABLED["fig4"], **props(Fig4Settings)}, "fig3": fig3,
               "table7": {**ENABLED["table7"], **props(Table7Settings), "model": model}}
    return {"type": "object", "properties": {
        name: {"type": "object", "additionalProperties": False, "default": {}, "properties": properties}
        for name, properties in studies.items()}}


def evaluate() -> dict[str, Any]:
    """The evaluate section's keys; the per-dataset and per-model protocols take the same keys without defaults (a
    filled-in default would mask the section's own)."""
    from e3d.evaluate.protocol import SOURCE_KEY, EvalProtocol, EvalSettings
    from e3d.settingspec import object_schema

    settings = object_schema(EvalSettings)["properties"]
    protocol = object_schema(EvalProtocol)["properties"]
    override = {**{k: {key: v for key, v in prop.items() if key != "default"} for k, prop in protocol.items()},
                **SOURCE_KEY}
    per_model = {"type": "object", "additionalProperties": False, "properties": override}
    datasets = {"type": "object", "default": {}, "description": (
        "per-dataset test protocol (views, clips, crop, spacing over the keys above), each with per-model overrides "
        "under `models` (e.g. X3D at its larger test crop on Kinetics-400)"),
        "additionalProperties": {"type": "object", "additionalProperties": False, "properties": {
            **override, "models": {"type": "object", "additionalProperties": per_model}}}}
    return {"type": "object", "properties": {"split": settings.pop("split"), **protocol, "datasets": datasets,
                                             **settings}}


def darts() -> dict[str, Any]:
    from e3d.darts.config import PRESET_DOCS, PRESETS, DartsSection, SearchConfig
    from e3d.settingspec import object_schema

    schema = object_schema(DartsSection, description=(
        "DARTS-P3D search (e3d darts-search): one settings block per dataset; each block's defaults are the preset "
        "of the same name (e3d.darts.config.PRESETS)."))
    for name, preset in PRESETS.items():
        schema["properties"][name] = object_schema(SearchConfig, values=preset, description=PRESET_DOCS[name])
    return schema


# generated file (under workflow/schemas/generated/) -> (the declaration it comes from, builder)
GENERATED: dict[str, tuple[str, Callable[[], dict[str, Any]]]] = {
    "train_settings.schema.yaml": ("e3d.train.settings.TrainSettings", train_settings),
    "train_settings_keys.schema.yaml": ("e3d.train.settings.TrainSettings", train_settings_keys),
    "sgs_module.schema.yaml": ("e3d.sgs.config.SGSConfig", sgs_module),
    "search_run.schema.yaml": ("e3d.search.engine.SearchConfig (RUN_KEYS)", search_run),
    "search_shared.schema.yaml": ("e3d.search.engine.SearchConfig (SHARED_KEYS)", search_shared),
    "x3d_kernel_variants.schema.yaml": ("e3d.search.variants.VariantsSettings", x3d_kernel_variants),
    "data_dataset.schema.yaml": ("e3d.data.settings.DatasetSettings, e3d.data.synth.SynthSettings, "
                                 "e3d.data.extract.ExtractSettings (CONFIG_KEYS), e3d.data.settings.CacheSettings",
                                 data_dataset),
    "baselines.schema.yaml": ("e3d.baselines.settings", baselines),
    "evaluate.schema.yaml": ("e3d.evaluate.protocol (EvalProtocol, EvalSettings)", evaluate),
    "darts.schema.yaml": ("e3d.darts.config (SearchConfig, PRESETS, DartsSection)", darts),
}


class _Dumper(yaml.SafeDumper):
    """Block mappings, one-line lists of scalars, no anchors (each property spelled out)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_list(dumper: yaml.SafeDumper, data: list) -> yaml.Node:
    flow = all(not isinstance(v, (list, dict)) for v in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _represent_list)


def render(name: str) -> str:
    source, build = GENERATED[name]
    header = (f"# Generated by `python -m e3d.schemagen --write` from {source}.\n"
              "# Edit that declaration, not this file: tests/test_schemagen.py fails while they differ.\n")
    return header + yaml.dump(build(), Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=116,
                              allow_unicode=True)


def stale(directory: Path = GENERATED_DIR) -> list[str]:
    """The generated files whose committed text differs from what the declarations give now."""
    return [name for name in GENERATED
            if not (directory / name).is_file() or (directory / name).read_text() != render(name)]


def write(directory: Path = GENERATED_DIR) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    changed = stale(directory)
    for name in changed:
        (directory / name).write_text(render(name))
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m e3d.schemagen", description=__doc__.split("\n\n")[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help="rewrite the generated schema files that changed")
    action.add_argument("--check", action="store_true", help="exit 1 naming the files that are out of date")
    args = parser.parse_args(argv)
    if args.write:
        for name in write():
            print(f"wrote {GENERATED_DIR / name}")
        return 0
    out_of_date = stale()
    for name in out_of_date:
        print(f"{GENERATED_DIR / name} is out of date: run python -m e3d.schemagen --write", file=sys.stderr)
    return 1 if out_of_date else 0


if __name__ == "__main__":
    sys.exit(main())
