# Training-free baselines (config `baselines`): Figure 4 (forward inference vs the analytic score), Figure 3 (how
# well STEntr, HomoEntr, FLOPs and params predict accuracy) and Table 7 (searches with other training-free scores).
# Figure 3's sampled models and Table 7's searched models are trained and evaluated by the ordinary train and
# evaluate rules (TrainConfig.add_models), Table 7's searches run through the ordinary search rule (SEARCH_RUNS);
# Table 7 itself is a tables.smk rule (e3d.tables.registry).
from e3d.baselines.workflow import FIG3_STEM, FIG4_STEM, BaselinesConfig

BASELINES = BaselinesConfig(config)
SEARCH_RUNS.update(BASELINES.search_runs())
TRAINING.add_models(BASELINES.train_models())


rule fig4_forward_vs_analytic:
    output:
        png=report(LAYOUT.result(FIG4_STEM, "png"), caption="../report/fig4_forward_vs_analytic.rst",
                   category="Figures", subcategory="Figure 4", labels={"figure": "Figure 4"}),
        csv=LAYOUT.result(FIG4_STEM, "csv"),
        meta=LAYOUT.result(FIG4_STEM, "meta.json"),
        summary=LAYOUT.result("fig4_summary", "csv"),
    params:
        args=BASELINES.fig4_args(),
        repeats=BASELINES.fig4["repeats"],
        search_device=BASELINES.fig4_device(),
        code=code_digest_param("baselines"),
    log:
        f"{LOGS}/baselines/fig4.log",
    benchmark:
        f"{LOGS}/baselines/fig4.benchmark.tsv"
    threads: max(1, BASELINES.fig4["threads"])
    conda:
        "../../envs/cpu.yaml"
    shell:
        "e3d baselines fig4 --out $(dirname {output.png}) {params.args} > {log} 2>&1"


rule fig3_sample:
    output:
        models=f"{LAYOUT.fig3_dir()}/models.parquet",
        specs=[LAYOUT.fig3_spec(m) for m in BASELINES.fig3_models()],
    params:
        args=BASELINES.fig3_sample_args(),
        code=code_digest_param("baselines"),
    log:
        f"{LOGS}/baselines/fig3_sample.log",
    conda:
        "../../envs/cpu.yaml"
    shell:
        "e3d baselines fig3-sample --out $(dirname {output.models}) {params.args} > {log} 2>&1"


rule fig3_correlation:
    input:
        models=rules.fig3_sample.output.models,
        evals=lambda w: BASELINES.fig3_evals(w.dataset),
    output:
        png=report(LAYOUT.result(f"{FIG3_STEM}_{{dataset}}", "png"), caption="../report/fig3_correlation.rst",
                   category="Figures", subcategory="Figure 3", labels={"figure": "Figure 3", "dataset": "{dataset}"}),
        csv=LAYOUT.result(f"{FIG3_STEM}_{{dataset}}", "csv"),
        meta=LAYOUT.result(f"{FIG3_STEM}_{{dataset}}", "meta.json"),
        # the per-method charts, the scatter and the correlations as Parquet, beside the sampled models
        corr=f"{LAYOUT.fig3_dir()}/{{dataset}}/fig3_correlations.parquet",
    params:
        accuracy=lambda w, input: BASELINES.fig3_accuracy_args(list(input.evals)),
        args=BASELINES.fig3_correlate_args(),
        code=code_digest_param("baselines"),
        **BASELINES.fig3_params(),
    log:
        f"{LOGS}/baselines/fig3_correlation_{{dataset}}.log",
    conda:
        "../../envs/cpu.yaml"
    shell:
        "e3d baselines fig3-correlate --models {input.models} --accuracy {params.accuracy} {params.args}"
        " --out $(dirname {output.corr}) --figure {output.png} > {log} 2>&1"


rule table7_x3d:
    output:
        spec=LAYOUT.table7_spec("x3d-{expand}"),
    params:
        args=lambda w: BASELINES.x3d_args(w.expand),
        code=code_digest_param("baselines"),
    log:
        f"{LOGS}/baselines/table7_x3d_{{expand}}.log",
    conda:
        "../../envs/cpu.yaml"
    shell:
        "e3d baselines x3d-scaled {params.args} --out {output.spec} > {log} 2>&1"


rule table7_random:
    output:
        models=f"{LAYOUT.table7_dir()}/models.parquet",
        specs=[LAYOUT.table7_spec(e) for e in BASELINES.table7_random_entrants()],
    params:
        # a function: the names' format holds braces that Snakemake would read as wildcards
        args=lambda w: BASELINES.random_args(),
        code=code_digest_param("baselines"),
    log:
        f"{LOGS}/baselines/table7_random.log",
    conda:
        "../../envs/cpu.yaml"
    # the same sampler as Figure 3 (DIR/models.parquet with the scores, DIR/specs/<model>.json), plain random
    shell:
        "e3d baselines fig3-sample --out $(dirname {output.models}) {params.args} > {log} 2>&1"


for _paths, _study in BASELINES.targets():
    TARGETS.add(_paths, study=_study)
