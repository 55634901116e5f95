"""The table registry that workflow/rules/tables.smk generates its rules from: one entry per table builder, its
report contract derived from the entry, and every entry's inputs, settings and caption params computable from the
default config (what the generated rules ask for when Snakemake builds the DAG)."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import pytest
import yaml

from e3d.config import validate_config
from e3d.tables.build import BUILDERS, named_inputs
from e3d.layout import Layout
from e3d.tables.registry import REPORT_ITEMS, TABLE_RULES, TableSources, report_item


@pytest.fixture(scope="module")
def sources(repo_root) -> TableSources:
    from e3d.baselines.workflow import BaselinesConfig
    from e3d.darts.workflow import DartsConfig
    from e3d.sgs.workflow import SGSConfig
    from e3d.tables.workflow import TablesConfig

    config = yaml.safe_load((repo_root / "config" / "config.yaml").read_text())
    validate_config(config)
    return TableSources(tables=TablesConfig(config), darts=DartsConfig(config), sgs=SGSConfig(config),
                        baselines=BaselinesConfig(config))


def test_every_builder_has_one_rule_and_every_rule_a_caption(repo_root):
    # every builder has a rule; Table 7's builder has two (its main and its long schedule)
    assert sorted({t.builder for t in TABLE_RULES}) == sorted(BUILDERS)
    assert sorted(t.rule for t in TABLE_RULES if t.builder == "table7") == ["table7_training_free",
                                                                             "table7_training_free_long"]
    assert len({t.rule for t in TABLE_RULES}) == len(TABLE_RULES)
    for t in TABLE_RULES:
        assert report_item(t.caption) == t.report and t.report.caption_path(repo_root).is_file()
    assert len({i.name for i in REPORT_ITEMS}) == len(REPORT_ITEMS)


def test_outputs_are_reported_with_caption_and_labels():
    calls = []

    def report(path, **kw):
        calls.append((path, kw))
        return path

    table = next(t for t in TABLE_RULES if t.rule == "table3")
    assert table.outputs(Layout("w", "r", "L"), report) == {"csv": "r/table3_{dataset}.csv", "html": "r/table3_{dataset}.html",
                                          "parquet": "r/table3_{dataset}.parquet", "meta": "r/table3_{dataset}.meta.json"}
    assert [p for p, _ in calls] == ["r/table3_{dataset}.csv", "r/table3_{dataset}.html"]
    assert calls[0][1] == {"caption": "../report/table3.rst", "category": "Tables", "subcategory": "Table 3",
                           "labels": {"table": "Table 3", "dataset": "{dataset}", "format": "csv"}}
    calls.clear()
    figure = next(t for t in TABLE_RULES if t.rule == "search_traces")
    assert set(figure.outputs(Layout("w", "r", "L"), report)) == {"png", "csv", "meta"}
    assert calls == [("r/search_traces.png", {"caption": "../report/search_traces.rst", "category": "Figures",
                                              "subcategory": "Search traces",
                                              "labels": {"figure": "Search traces"}})]
    sth = next(t for t in TABLE_RULES if t.rule == "table2_sth")
    assert sth.report_labels() == {"table": "Table 2", "dataset": "sthv1+sthv2"}
    assert table.log(Layout("w", "r", "L")) == "L/tables/table3_{dataset}.log"


def test_named_inputs_lists_every_name_with_files():
    class Input(dict):
        pass

    assert named_inputs(Input(evals=["a", "b"], variants="v", benchmarks=[])) == {"evals": ["a", "b"],
                                                                                  "variants": ["v"]}


@pytest.mark.parametrize("table", [t for t in TABLE_RULES if t.rule != "table2_sth"], ids=lambda t: t.rule)
def test_default_config_gives_every_rule_its_inputs_params_and_caption_params(sources, table):
    w = SimpleNamespace(dataset="synthetic")
    inputs = table.input_function(sources)(w)
    assert inputs and all(isinstance(v, list) for v in inputs.values())
    assert isinstance(table.params_function(sources)(w), dict)
    quoted = {k: fn(w) for k, fn in table.quoted_functions(sources).items()}
    assert tuple(quoted) == table.report.params and all(v not in (None, "") for v in quoted.values())


def test_table7_rules_write_where_the_baselines_targets_expect(sources):
    # `snakemake study` asks for the long table by the baselines section's stem; the rule must write that file
    w = SimpleNamespace(dataset="synthetic")
    for schedule in sources.baselines.table7_schedules():
        table = next(t for t in TABLE_RULES if t.rule == "table7_training_free" + (f"_{schedule}" if schedule else ""))
        assert table.stem == sources.baselines.table7_stem(schedule) + "_{dataset}"
        assert table.inputs(sources, w) == sources.baselines.table7_inputs("synthetic", schedule=schedule)
        assert ("schedule" in table.report.params) == bool(schedule)
    assert sources.baselines.table7_schedules() == ["", "long"]


def test_table3_reads_the_trained_models_and_the_main_comparison(sources):
    table = next(t for t in TABLE_RULES if t.rule == "table3")
    w = SimpleNamespace(dataset="synthetic")
    # the default config's configured models are study-only: `all` trains only the comparison for Table 3
    assert table.inputs(sources, w) == {"evals": sources.tables.evals("synthetic"),
                                        "comparison": sources.baselines.table7_evals("synthetic")}
    assert sources.tables.evals("synthetic") == []
    params = table.params(sources, w)
    assert params["comparison"]["Zen-score"] == ["table7-zen-seed0", "table7-zen-seed1"]
    assert {k: v for k, v in params.items() if k != "comparison"} == {**sources.tables.common_params("synthetic"),
                                                                       "dataset": "synthetic"}


def test_log_to_sends_both_streams_and_a_traceback_to_the_log(tmp_path, cli_env):
    log = tmp_path / "logs" / "job.log"
    code = ("import sys; from e3d.script_log import log_to; log_to(sys.argv[1]); print('out'); "
            "print('err', file=sys.stderr); raise RuntimeError('boom')")
    proc = subprocess.run([sys.executable, "-c", code, str(log)], capture_output=True, text=True, env=cli_env)
    assert proc.returncode != 0 and proc.stdout == "" and proc.stderr == ""
    text = log.read_text()
    assert "out" in text and "err" in text and "RuntimeError: boom" in text
