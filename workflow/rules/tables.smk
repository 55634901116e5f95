# Paper tables and figures: each one target under results_dir, built by `e3d tables NAME` from the stages'
# artifacts (evaluation metrics, search outputs and benchmark files, profiles), our rows beside the paper's.
# Every output is registered with report(): `snakemake --report report.html` shows them with their captions.
from e3d.provenance import code_digest, STAGE_MODULES
from e3d.tables.workflow import TablesConfig
from e3d.tables.write import paper_data_files

TABLES = TablesConfig(config)
TABLES_CODE = code_digest(*STAGE_MODULES["tables"], *paper_data_files())


report: "../report/workflow.rst"


TABLE_SHELL = "e3d tables {params.name} --out {params.out} {params.args} > {log} 2>&1"


rule table1_kernels:
    input:
        variants=LAYOUT.kernel_variants(),
        evals=lambda w: TABLES.variant_evals(w.dataset),
    output:
        **TABLES.table_outputs(report, "table1_kernels_{dataset}", "table1_kernels", "Table 1",
                         {"table": "Table 1", "dataset": "{dataset}"}),
    params:
        name="table1",
        out=lambda w, output: output.csv,
        args=lambda w, input: TABLES.cli_args({"variants": [input.variants], "evals": list(input.evals)},
                                              {**TABLES.common_params(w.dataset), "dataset": w.dataset,
                                               "variant_models": TABLES.cfg["variant_models"]}),
        device=TABLES.device(),
        views=lambda w: TABLES.views(w.dataset),
        flops_convention=TABLES.common_params()["flops_convention"],
        code=TABLES_CODE,
    log:
        f"{LOGS}/tables/table1_kernels_{{dataset}}.log",
    conda:
        "../../envs/cpu.yaml"
    shell:
        TABLE_SHELL


rule table2_sth:
    input:
        evals=lambda w: TABLES.evals("sthv1") + TABLES.evals("sthv2"),
    output:
        **TABLES.table_outputs(report, "table2_sth", "table2_sth", "Table 2", {"table": "Table 2", "dataset": "sthv1+sthv2"}),
    params:
        name="table2",
        out=lambda w, output: output.csv,
        args=lambda w, input: TABLES.cli_args({"evals": list(input.evals)}, TABLES.common_params("sthv1", "sthv2")),
        device=TABLES.device(),
        views=lambda w: TABLES.views("sthv1", "sthv2"),
        flops_convention=TABLES.common_params()["flops_convention"],
        code=TABLES_CODE,
    log:
        f"{LOGS}/tables/table2_sth.log",
    conda:
        "../../envs/cpu.yaml"
    shell:
        TABLE_SHELL


rule table3:
    input:
        evals=lambda w: TABLES.evals(w.dataset),
    output:
        **TABLES.table_outputs(report, "table3_{dataset}", "table3", "Table 3", {"table": "Table 3", "dataset": "{dataset}"}),
    params:
        name="table3",
        out=lambda w, output: output.csv,
        args=lambda w, input: TABLES.cli_args({"evals": list(input.evals)},
                                              {**TABLES.common_params(w.dataset), "dataset": w.dataset}),
        device=TABLES.device(),
        views=lambda w: TABLES.views(w.dataset),
        flops_convention=TABLES.common_params()["flops_convention"],
        code=TABLES_CODE,
    log:
        f"{LOGS}/tables/table3_{{dataset}}.log",
    conda:
        "../../envs/cpu.yaml"
    shell:
        TABLE_SHELL


rule table4_search_cost:
    input:
        archs=TABLES.archs(TABLES.runs("table4_runs")),
        benchmarks=TABLES.benchmarks(TABLES.runs("table4_runs")),
        evals=lambda w: TABLES.search_evals(TABLES.search_cost_dataset, "table4_runs"),
    output:
        **TABLES.table_outputs(report, "table4_search_cost", "table4_search_cost", "Table 4", {"table": "Table 4"}),
    params:
        name="table4",
        out=lambda w, output: output.csv,
        args=lambda w, input: TABLES.cli_args(
            {"archs": list(input.archs), "benchmarks": list(input.benchmarks), "evals": list(input.evals)},
            {"search_device": TABLES.search_device(), "watts_per_core": TABLES.cfg["watts_per_core"],
             "run_models": TABLES.run_models(TABLES.runs("table4_runs")), "run_names": TABLES.cfg["run_names"],
             "dataset": TABLES.search_cost_dataset}),
        search_device=TABLES.search_device(),
        wattage_w=TABLES.cfg["watts_per_core"],
        flops_convention=TABLES.common_params()["flops_convention"],
        code=TABLES_CODE,
    log:
        f"{LOGS}/tables/table4_search_cost.log",
    conda:
        "../../envs/cpu.yaml"
    shell:
        TABLE_SHELL


rule table11_scores:
    input:
        archs=TABLES.archs(TABLES.runs("table11_runs")),
        evals=lambda w: TABLES.search_evals(w.dataset, "table11_runs"),
    output:
        **TABLES.table_outputs(report, "table11_scores_{dataset}", "table11_scores", "Table 11",
                         {"table": "Table 11", "dataset": "{dataset}"}),
    params:
        name="table11",
        out=lambda w, output: output.csv,
        args=lambda w, input: TABLES.cli_args(
            {"archs": list(input.archs), "evals": list(input.evals)},
            {**TABLES.common_params(w.dataset), "dataset": w.dataset, "run_names": TABLES.cfg["run_names"],
             "run_models": TABLES.run_models(TABLES.runs("table11_runs"))}),
        device=TABLES.device(),
        views=lambda w: TABLES.views(w.dataset),
        flops_convention=TABLES.common_params()["flops_convention"],
        code=TABLES_CODE,
    log:
        f"{LOGS}/tables/table11_scores_{{dataset}}.log",
    conda:
        "../../envs/cpu.yaml"
    shell:
        TABLE_SHELL


rule table12_kernel_space:
    input:
        archs=TABLES.archs(TABLES.runs("table12_runs")),
        evals=lambda w: TABLES.search_evals(w.dataset, "table12_runs"),
    output:
        **TABLES.table_outputs(report, "table12_kernel_space_{dataset}", "table12_kernel_space", "Table 12",
                         {"table": "Table 12", "dataset": "{dataset}"}),
    params:
        name="table12",
        out=lambda w, output: output.csv,
        args=lambda w, input: TABLES.cli_args(
            {"archs": list(input.archs), "evals": list(input.evals)},
            {**TABLES.common_params(w.dataset), "dataset": w.dataset,
             "run_models": TABLES.run_models(TABLES.runs("table12_runs"))}),
        device=TABLES.device(),
        views=lambda w: TABLES.views(w.dataset),
        flops_convention=TABLES.common_params()["flops_convention"],
        code=TABLES_CODE,
    log:
        f"{LOGS}/tables/table12_kernel_space_{{dataset}}.log",
    conda:
        "../../envs/cpu.yaml"
    shell:
        TABLE_SHELL


rule table13_inference:
    input:
        profiles=lambda w: TABLES.profiles(),
        evals=lambda w: TABLES.evals(TABLES.inference_dataset),
    output:
        **TABLES.table_outputs(report, "table13_inference", "table13_inference", "Table 13", {"table": "Table 13"}),
    params:
        name="table13",
        out=lambda w, output: output.csv,
        args=lambda w, input: TABLES.cli_args({"profiles": list(input.profiles), "evals": list(input.evals)},
                                              {"device": TABLES.device(), "dataset": TABLES.inference_dataset}),
        device=TABLES.device(),
        batch_size="as recorded per row (batch_size column)",
        flops_convention=TABLES.common_params()["flops_convention"],
        code=TABLES_CODE,
    log:
        f"{LOGS}/tables/table13_inference.log",
    conda:
        "../../envs/cpu.yaml"
    shell:
        TABLE_SHELL


rule fig2_accuracy_vs_scores:
    input:
        variants=LAYOUT.kernel_variants(),
        evals=lambda w: TABLES.variant_evals(w.dataset),
    output:
        **TABLES.figure_outputs(report, "fig2_accuracy_vs_scores_{dataset}", "fig2_accuracy_vs_scores", "Figure 2",
                          {"figure": "Figure 2", "dataset": "{dataset}"}),
    params:
        name="fig2",
        out=lambda w, output: output.png,
        args=lambda w, input: TABLES.cli_args({"variants": [input.variants], "evals": list(input.evals)},
                                              {**TABLES.common_params(w.dataset), "dataset": w.dataset,
                                               "variant_models": TABLES.cfg["variant_models"]}),
        device=TABLES.device(),
        views=lambda w: TABLES.views(w.dataset),
        code=TABLES_CODE,
    log:
        f"{LOGS}/tables/fig2_accuracy_vs_scores_{{dataset}}.log",
    conda:
        "../../envs/cpu.yaml"
    shell:
        TABLE_SHELL


rule fig5_accuracy_vs_gflops:
    input:
        evals=lambda w: TABLES.evals(w.dataset),
    output:
        **TABLES.figure_outputs(report, "fig5_accuracy_vs_gflops_{dataset}", "fig5_accuracy_vs_gflops", "Figure 5",
                          {"figure": "Figure 5", "dataset": "{dataset}"}),
    params:
        name="fig5",
        out=lambda w, output: output.png,
        args=lambda w, input: TABLES.cli_args({"evals": list(input.evals)},
                                              {**TABLES.common_params(w.dataset), "dataset": w.dataset}),
        device=TABLES.device(),
        views=lambda w: TABLES.views(w.dataset),
        flops_convention=TABLES.common_params()["flops_convention"],
        code=TABLES_CODE,
    log:
        f"{LOGS}/tables/fig5_accuracy_vs_gflops_{{dataset}}.log",
    conda:
        "../../envs/cpu.yaml"
    shell:
        TABLE_SHELL


rule search_traces:
    input:
        traces=TABLES.traces(),
    output:
        **TABLES.figure_outputs(report, "search_traces", "search_traces", "Search traces", {"figure": "Search traces"}),
    params:
        name="search_traces",
        out=lambda w, output: output.png,
        args=lambda w, input: TABLES.cli_args({"traces": list(input.traces)}, {"search_device": TABLES.search_device()}),
        population=", ".join(f"{r}: {c['population']}" for r, c in sorted(TABLES.search_runs.items())),
        iterations=", ".join(f"{r}: {c['iterations']}" for r, c in sorted(TABLES.search_runs.items())),
        search_device=TABLES.search_device(),
        code=TABLES_CODE,
    log:
        f"{LOGS}/tables/search_traces.log",
    conda:
        "../../envs/cpu.yaml"
    shell:
        TABLE_SHELL


ALL_TARGETS.extend(TABLES.targets())
