# Paper tables and figures: one rule per entry of e3d.tables.registry (TABLE_RULES), each building one target
# under results_dir from the stages' artifacts (evaluation metrics, search outputs and benchmark files, profiles)
# with e3d.tables.build, our rows beside the paper's. Included after the other rule files: the DARTS, SGS and
# Table 7 entries read their sections' helpers. Every output is registered with report():
# `snakemake --report report.html` shows them with their captions (workflow/report/<caption>.rst).
from e3d.provenance import code_digest, STAGE_MODULES
from e3d.tables.registry import TABLE_RULES, TableSources
from e3d.tables.workflow import TablesConfig
from e3d.tables.write import paper_data_files

TABLES = TablesConfig(config)
# Table 7's searches (one per score) and their seeds' models: Tables 4, 11 and 12 may name those runs too
TABLES.add_derived(BASELINES.search_runs(), BASELINES.run_models())
TABLE_SOURCES = TableSources(tables=TABLES, darts=DARTS, sgs=SGS, baselines=BASELINES)


report: "../report/workflow.rst"


for _table in TABLE_RULES:

    rule:
        name:
            _table.rule
        input:
            unpack(_table.input_function(TABLE_SOURCES)),
        output:
            **_table.outputs(LAYOUT, report),
        params:
            builder=_table.builder,
            out=lambda w, output: output[0],
            table=_table.params_function(TABLE_SOURCES),
            # what the caption quotes (device, views, FLOPs convention, ...)
            **_table.quoted_functions(TABLE_SOURCES),
            code=code_digest(*(m for s in _table.code_stages for m in STAGE_MODULES[s]),
                             *(paper_data_files() if _table.paper_data else ())),
        log:
            _table.log(LAYOUT),
        conda:
            "../../envs/cpu.yaml"
        script:
            "../scripts/table.py"


# The report's front page: what the main comparison shows, written from Table 7 (e3d.tables.summary)
rule summary:
    input:
        table7=LAYOUT.result("table7_training_free_{dataset}", "parquet"),
        evals=lambda w: BASELINES.table7_evals(w.dataset)[:1],
    output:
        rst=report(LAYOUT.result("summary_{dataset}", "rst"), caption="../report/summary.rst", category="Summary",
                   labels={"summary": "What this run shows", "dataset": "{dataset}"}),
    params:
        code=code_digest_param("tables"),
    log:
        LAYOUT.table_log("summary_{dataset}"),
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/summary.py"


if BASELINES.table7["enabled"]:
    TARGETS.add([LAYOUT.result(f"summary_{BASELINES.table7_dataset}", "rst")])


# The configuration the run used (defaults filled in), one click from the report's front page
rule config_used:
    output:
        yaml=report(LAYOUT.result("config_used", "yaml"), caption="../report/config_used.rst",
                    category="Configuration", labels={"configuration": "config_used.yaml"}),
    params:
        config=config,
    log:
        LAYOUT.table_log("config_used"),
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/config_used.py"


TARGETS.add([LAYOUT.result("config_used", "yaml")])
for _paths, _models in TABLES.targets():
    TARGETS.add(_paths, models=_models)
