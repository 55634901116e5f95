# Similarity Guided Sampling (issue 9): models entries with an `sgs:` block train their architecture with one SGS
# layer through the ordinary train rule (B' histogram per epoch in metrics.parquet) and are evaluated by the
# ordinary evaluate rule (each view costed at its own B': mean, distribution and histogram in the metrics JSON).
# results/table_sgs_{dataset}.csv puts each base model beside its SGS version.
from e3d.provenance import code_digest, STAGE_MODULES
from e3d.darts.workflow import named_inputs
from e3d.sgs.workflow import SGSConfig

SGS = SGSConfig(config)


rule table_sgs:
    input:
        unpack(lambda w: SGS.evals(w.dataset)),
    output:
        csv=LAYOUT.result("table_sgs_{dataset}", "csv"),
        html=LAYOUT.result("table_sgs_{dataset}", "html"),
        parquet=LAYOUT.result("table_sgs_{dataset}", "parquet"),
        meta=LAYOUT.result("table_sgs_{dataset}", "meta.json"),
    params:
        args=lambda w, input: TABLES.cli_args(named_inputs(input), SGS.table_params(w.dataset)),
        code=code_digest(*STAGE_MODULES["tables"], *STAGE_MODULES["sgs"]),
    log:
        f"{LOGS}/tables/table_sgs_{{dataset}}.log",
    conda:
        "../../envs/cpu.yaml"
    shell:
        "e3d tables table_sgs --out {output.csv} {params.args} > {log} 2>&1"


ALL_TARGETS.extend(SGS.targets())
