# Evolutionary architecture search (CPU): one job per entry of config["search"]["runs"], plus the Table 1
# kernel-placement variants of X3D-S. Resumable state lives in {work_dir}/search/.state/{run}/, outside the outputs,
# so a killed or failed job resumes where it stopped when rerun.
from e3d.search.workflow import search_cli_args, search_code_stage

SEARCH = config["search"]
# The runs this rule can make: the configured ones, plus those other stages derive and add here (the Table 7
# searches, workflow/rules/baselines.smk). Only the configured ones are this stage's own targets.
SEARCH_RUNS = dict(SEARCH["runs"])


wildcard_constraints:
    run=r"[A-Za-z0-9_\-]+",


rule search:
    output:
        arch=LAYOUT.search_arch("{run}"),
        topk=LAYOUT.search_file("{run}", "topk.json"),
        trace=LAYOUT.search_trace("{run}"),
    log:
        LAYOUT.search_log("{run}"),
    benchmark:
        LAYOUT.search_benchmark("{run}")
    threads: SEARCH["threads"]
    params:
        cfg=lambda wc: SEARCH_RUNS[wc.run],
        shared={k: SEARCH[k] for k in ("lanes", "sync_every", "topk")},
        args=lambda wc: search_cli_args(SEARCH, wc.run, SEARCH_RUNS),
        state=lambda wc: LAYOUT.search_state(wc.run),
        # a forward score (zen, madet) also runs the PyTorch builder: its edits rerun those searches, not all
        code=lambda wc: code_digest_param(search_code_stage(SEARCH_RUNS[wc.run])),
    conda:
        "../../envs/cpu.yaml"
    shell:
        "e3d search {params.args} --workers {threads} --state-dir {params.state} --name {wildcards.run} "
        "--out $(dirname {output.arch}) > {log} 2>&1"


rule x3d_kernel_variants:
    output:
        LAYOUT.kernel_variants(),
    log:
        f"{LOGS}/search/x3d_kernel_variants.log",
    params:
        cfg=SEARCH["x3d_kernel_variants"],
        code=code_digest_param("search"),
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/x3d_kernel_variants.py"


TARGETS.add(LAYOUT.search_file(run, f) for run in sorted(SEARCH["runs"])
            for f in ["arch.json", "topk.json", "trace.parquet"])
if SEARCH["x3d_kernel_variants"]["enabled"]:
    TARGETS.add([LAYOUT.kernel_variants()])
