# DARTS-P3D (issue 8): a differentiable pseudo-3D cell search per dataset in config["darts"]["datasets"]; the models
# entry `arch: darts:{dataset}` retrains the searched network from scratch through the ordinary train/evaluate rules
# (TSN segment clips via the record's clip sampler); results/table_darts_{dataset}.csv (a tables.smk rule, from
# e3d.tables.registry) compares it with the E3D and X3D models trained on the same data.
from e3d.darts.workflow import DartsConfig

DARTS = DartsConfig(config)


rule darts_search:
    input:
        store=lambda w: DARTS.store(w.dataset),
    output:
        genotype=LAYOUT.darts_genotype("{dataset}"),
        metrics=LAYOUT.darts_metrics("{dataset}"),
    params:
        cfg=lambda w: DARTS.settings(w.dataset),
        args=lambda w: DARTS.search_args(w.dataset),
        code=code_digest_param("darts"),
    log:
        LAYOUT.darts_log("{dataset}"),
    benchmark:
        LAYOUT.darts_benchmark("{dataset}")
    threads: config["train"]["resources"]["cpus"]
    resources:
        **TRAINING.resources(),
    conda:
        TRAINING.conda_env()
    shell:
        "e3d darts-search --store $(dirname {input.store}) --out $(dirname {output.genotype}) {params.args}"
        " > {log} 2>&1"


for _paths, _models in DARTS.targets():
    TARGETS.add(_paths, models=_models, study="darts")
