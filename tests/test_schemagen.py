"""Each settings block is declared once, as a dataclass (e3d.settingspec): the committed schema fragments are what
the generator writes from it, and the workflow's defaults, key lists, bounds, CLI flags and docs all come from it."""

import argparse
import dataclasses
import json

import jsonschema
import pytest

from e3d import schemagen
from e3d.baselines.settings import (SAMPLE_KEYS, CorrelationSettings, Fig3Training, Fig4Settings, SampleConfig,
                                    StudyModel, Table7Settings)
from e3d.config import load_schema, validate_config
from e3d.darts.config import PRESETS
from e3d.evaluate.protocol import EVAL_FLAG_KEYS, PROTOCOL_KEYS, EvalProtocol, EvalSettings
from e3d.data.extract import CONFIG_KEYS as EXTRACT_CONFIG_KEYS
from e3d.data.extract import ExtractSettings
from e3d.data.settings import INDEX_FLAG_KEYS, CacheSettings, DatasetSettings
from e3d.data.synth import SynthSettings
from e3d.darts.config import SearchConfig as DartsSearchConfig
from e3d.search.engine import RUN_KEYS, SHARED_KEYS, SearchConfig
from e3d.search.variants import VariantsSettings
from e3d.settingspec import fields_of, key_names, property_schema
from e3d.sgs.config import SGSConfig, SGSConfigError
from e3d.train.settings import MIN_CROP, SettingsError, TrainSettings

BLOCKS = [TrainSettings, SGSConfig, SearchConfig, DartsSearchConfig, VariantsSettings, SynthSettings,
          ExtractSettings, DatasetSettings, CacheSettings, Fig4Settings, SampleConfig, CorrelationSettings,
          EvalProtocol, EvalSettings]


def _flag_actions(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {a.dest: a for a in parser._actions}


def assert_flags_mirror(actions: dict[str, argparse.Action], cls, names=None, *, defaults=True):
    """Each field's flag has the field's default (or None; a list or mapping as the text e3d.cliflags writes for
    it), help and choices."""
    from e3d.cliflags import flag_value

    for f in fields_of(cls, names):
        action = actions[f.name]
        prop = property_schema(cls, f)
        assert action.help == f.metadata.get("doc"), f.name
        if not action.required:
            expected = prop.get("default") if defaults else None
            if isinstance(expected, (list, dict)):
                expected = flag_value(expected)
            assert action.default == expected, f.name
        assert action.choices == prop.get("enum"), f.name


def test_committed_schema_files_are_what_the_generator_writes():
    assert schemagen.stale() == [], "run: python -m e3d.schemagen --write"


def test_the_generator_writes_and_then_finds_nothing_stale(tmp_path):
    assert sorted(schemagen.write(tmp_path)) == sorted(schemagen.GENERATED)
    assert schemagen.stale(tmp_path) == [] and schemagen.write(tmp_path) == []
    (tmp_path / "sgs_module.schema.yaml").write_text("# hand-edited\n")
    assert schemagen.stale(tmp_path) == ["sgs_module.schema.yaml"]
    assert schemagen.main(["--check"]) == 0


def test_config_defaults_are_the_dataclass_defaults():
    config = validate_config({"models": {"m": {"arch": "builtin:e3d-s", "sgs": {}}},
                              "search": {"runs": {"r": {"max_layers": 83, "resolution": 160, "frames": 13,
                                                        "iterations": 10, "budget_gflops": 1.9}}}})
    assert config["train"]["settings"] == TrainSettings().to_dict()
    assert config["models"]["m"]["sgs"] == {} and \
        validate_config({"models": {"m": {"arch": "x", "sgs": {}}}})["models"]["m"]["sgs"] == {}
    for name, preset in PRESETS.items():
        assert config["darts"][name] == preset.to_dict()
    run = config["search"]["runs"]["r"]
    searched = SearchConfig(**{k: v for k, v in run.items() if k != "space"},
                            **{k: config["search"][k] for k in SHARED_KEYS})
    assert searched == SearchConfig(max_layers=83, resolution=160, frames=13, iterations=10, budget_gflops=1.9)
    assert set(run) - {"space"} == set(RUN_KEYS)


def test_sgs_block_defaults_fill_in_from_the_dataclass():
    schema = load_schema(schemagen.GENERATED_DIR / "sgs_module.schema.yaml")
    assert {k: p["default"] for k, p in schema["properties"].items()} == SGSConfig().to_dict()


def test_override_key_lists_are_the_settings_fields():
    schema = load_schema()
    train = schema["properties"]["train"]["properties"]
    assert train["dataset_settings"]["additionalProperties"]["propertyNames"]["enum"] == key_names(TrainSettings)
    models = schema["properties"]["models"]["additionalProperties"]["properties"]
    assert models["settings"]["propertyNames"]["enum"] == key_names(TrainSettings)
    with pytest.raises(Exception, match="epoch"):
        validate_config({"train": {"dataset_settings": {"synthetic": {"epoch": 3}}}})


def _bad_values(prop):
    """Values just outside a property's declared bounds or choices."""
    for key, step in (("minimum", -1), ("exclusiveMinimum", 0), ("maximum", 1), ("exclusiveMaximum", 0)):
        if key in prop:
            yield prop[key] + step  # the bound itself for an exclusive one
    if "enum" in prop:
        yield "not-a-choice"


@pytest.mark.parametrize("cls", BLOCKS, ids=lambda c: f"{c.__module__}.{c.__name__}")
def test_python_refuses_exactly_what_the_schema_refuses(cls):
    """The bounds live in the field declarations: a value just outside one fails both the generated schema and
    the dataclass's own check (the crop's lower bound was 8 in the schema and 1 in Python before)."""
    base = {SearchConfig: {"max_layers": 83, "resolution": 160, "frames": 13, "iterations": 10,
                           "budget_gflops": 1.9},
            DatasetSettings: {"format": "synthetic"}}.get(cls, {})
    for f in fields_of(cls):
        prop = property_schema(cls, f)
        for bad in _bad_values(prop):
            with pytest.raises(jsonschema.ValidationError):
                jsonschema.validate(bad, prop)
            with pytest.raises(Exception, match=f.name):
                if cls is TrainSettings:
                    TrainSettings.from_dict({f.name: bad})
                else:
                    cls(**{**base, f.name: bad})


def test_the_crop_bound_is_one_value():
    schema = load_schema()
    assert schema["properties"]["train"]["properties"]["settings"]["properties"]["crop"]["minimum"] == MIN_CROP
    assert TrainSettings.from_dict({"crop": MIN_CROP}).crop == MIN_CROP
    with pytest.raises(SettingsError, match="crop"):
        TrainSettings.from_dict({"crop": MIN_CROP - 1})
    with pytest.raises(Exception, match="crop"):
        validate_config({"train": {"settings": {"crop": MIN_CROP - 1}}})


def test_search_flags_defaults_and_help_come_from_the_dataclass():
    from e3d.commands import search as search_cmd

    parser = argparse.ArgumentParser()
    search_cmd.add_arguments(parser)
    actions = {a.dest: a for a in parser._actions}
    schema = load_schema()["properties"]["search"]
    run_props = schema["properties"]["runs"]["additionalProperties"]["properties"]
    for f in fields_of(SearchConfig, RUN_KEYS + SHARED_KEYS):
        action = actions[f.name]
        prop = run_props.get(f.name) or schema["properties"][f.name]
        assert action.help == f.metadata["doc"] == prop.get("description") or (action.help is None and not f.metadata["doc"])
        assert action.required == (f.name in schema["properties"]["runs"]["additionalProperties"]["required"])
        if not action.required:  # a mapping's default is its JSON text
            assert action.default == (prop["default"] if prop["type"] != "object" else "{}"), f.name
        if "enum" in prop:
            assert action.choices == prop["enum"]
    args = parser.parse_args(["--max-layers", "83", "--resolution", "160", "--frames", "13", "--iterations", "5",
                              "--budget-gflops", "1.9", "--out", "x", "--score-options", "{}"])
    assert search_cmd.search_config(args) == SearchConfig(max_layers=83, resolution=160, frames=13, iterations=5,
                                                          budget_gflops=1.9)


def test_darts_flags_come_from_the_dataclass_and_default_to_none():
    from e3d.commands import darts_search

    parser = argparse.ArgumentParser()
    darts_search.add_arguments(parser)
    actions = {a.dest: a for a in parser._actions}
    by_name = {f.name: f for f in dataclasses.fields(DartsSearchConfig)}
    for key in darts_search.FLAG_KEYS:
        assert actions[key].default is None and actions[key].help == by_name[key].metadata["doc"]
    assert actions["order"].choices == ["first", "second"]


def test_sgs_checks_name_the_key():
    with pytest.raises(SGSConfigError, match="sgs.stage must be an integer >= -1"):
        SGSConfig(stage=-2)


def test_kernel_variants_block_defaults_and_flags_come_from_the_dataclass():
    from e3d.search import variants

    section = validate_config({})["search"]["x3d_kernel_variants"]
    assert section == {"enabled": True, **dataclasses.asdict(VariantsSettings())}
    assert VariantsSettings.from_config(section) == VariantsSettings()
    assert_flags_mirror(_flag_actions(variants.build_parser()), VariantsSettings)
    assert variants.main(["--out", "unused.json", "--frames", "0"]) == 2  # refused before anything is scored


def _parser_of(command) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    return parser


def test_dataset_entry_defaults_and_flags_come_from_the_dataclasses():
    from e3d.commands import extract as extract_cmd
    from e3d.commands import index as index_cmd
    from e3d.commands import synth as synth_cmd

    entry = validate_config({"data": {"datasets": {"d": {"format": "synthetic"}}}})["data"]["datasets"]["d"]
    assert entry == {**dataclasses.asdict(DatasetSettings(format="synthetic")),
                     "synth": dataclasses.asdict(SynthSettings()),
                     "extract": {k: getattr(ExtractSettings(), k) for k in EXTRACT_CONFIG_KEYS},
                     "cache": dataclasses.asdict(CacheSettings())}
    assert_flags_mirror(_flag_actions(_parser_of(synth_cmd)), SynthSettings)
    assert_flags_mirror(_flag_actions(_parser_of(extract_cmd)), ExtractSettings)
    index_actions = _flag_actions(_parser_of(index_cmd))
    assert_flags_mirror(index_actions, DatasetSettings, INDEX_FLAG_KEYS)
    assert index_actions["format"].required


def test_synth_and_extract_cross_checks_stay_in_python():
    from e3d.errors import UserError

    with pytest.raises(UserError, match="min_fps <= max_fps"):
        SynthSettings(min_fps=50, max_fps=20)
    with pytest.raises(UserError, match="short_side must be 0"):
        ExtractSettings(short_side=4)
    assert ExtractSettings(short_side=0).short_side == 0


def test_baselines_defaults_and_flags_come_from_the_dataclasses():
    from e3d.commands import baselines as baselines_cmd

    section = validate_config({})["baselines"]
    asdict = lambda obj: json.loads(json.dumps(dataclasses.asdict(obj)))  # noqa: E731  (tuples as lists)
    assert section["fig4"] == {"enabled": True, **asdict(Fig4Settings())}
    assert section["fig3"] == {"enabled": True, **{k: getattr(SampleConfig(), k) for k in SAMPLE_KEYS},
                               **asdict(CorrelationSettings()), **asdict(Fig3Training()), "model": asdict(StudyModel())}
    assert section["table7"] == {"enabled": True, **asdict(Table7Settings()), "model": asdict(StudyModel())}
    subparsers = next(a for a in _parser_of(baselines_cmd)._actions if isinstance(a, argparse._SubParsersAction))
    fig4 = _flag_actions(subparsers.choices["fig4"])
    assert_flags_mirror(fig4, Fig4Settings)
    assert fig4["channels"].default == "16,32,64,128"  # a list flag's default as the workflow writes it
    sample = _flag_actions(subparsers.choices["fig3-sample"])
    assert_flags_mirror(sample, SampleConfig, SAMPLE_KEYS)
    assert_flags_mirror(sample, CorrelationSettings, ["scores"])
    assert_flags_mirror(_flag_actions(subparsers.choices["fig3-correlate"]), CorrelationSettings,
                        ["n_boot", "confidence"])


def test_library_defaults_are_the_declared_ones():
    import inspect

    from e3d.baselines import correlation, fig4

    run = inspect.signature(fig4.run_fig4).parameters
    assert (tuple(run["channels"].default), run["repeats"].default, run["batch_size"].default,
            run["threads"].default) == (Fig4Settings().channels, Fig4Settings().repeats, Fig4Settings().batch_size,
                                        Fig4Settings().threads)
    corr = inspect.signature(correlation.correlate).parameters
    assert (corr["n_boot"].default, corr["confidence"].default) == (CorrelationSettings().n_boot,
                                                                     CorrelationSettings().confidence)
    assert inspect.signature(correlation.score_architectures).parameters["scores"].default == \
        CorrelationSettings().scores


def test_evaluate_defaults_flags_and_the_test_crop_bound():
    from e3d.commands import evaluate as evaluate_cmd

    section = validate_config({})["evaluate"]
    assert section == {**dataclasses.asdict(EvalSettings()), **dataclasses.asdict(EvalProtocol()), "datasets": {}}
    actions = _flag_actions(_parser_of(evaluate_cmd))
    assert_flags_mirror(actions, EvalProtocol, PROTOCOL_KEYS)
    assert_flags_mirror(actions, EvalSettings, EVAL_FLAG_KEYS)
    # the test crop's bound is the training crop's, in the section, a dataset's and a model's protocol and Python
    schema = load_schema()["properties"]["evaluate"]["properties"]
    per_dataset = schema["datasets"]["additionalProperties"]["properties"]
    for crop in (schema["crop"], per_dataset["crop"], per_dataset["models"]["additionalProperties"]["properties"]["crop"]):
        assert crop["minimum"] == MIN_CROP
    assert "default" not in per_dataset["views"]  # an override's missing key leaves the section's value
    with pytest.raises(Exception, match="crop"):
        validate_config({"evaluate": {"datasets": {"d": {"models": {"m": {"crop": MIN_CROP - 1}}}}}})
    with pytest.raises(Exception, match="crop"):
        EvalProtocol(crop=MIN_CROP - 1)
    assert EvalProtocol(crop=MIN_CROP).crop == MIN_CROP
