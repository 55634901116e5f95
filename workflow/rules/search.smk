# Evolutionary architecture search (CPU): one job per entry of config["search"]["runs"], plus the Table 1
# kernel-placement variants of X3D-S. Resumable state lives in {work_dir}/search/.state/{run}/, outside the outputs,
# so a killed or failed job resumes where it stopped when rerun.
SEARCH = config["search"]


wildcard_constraints:
    run=r"[A-Za-z0-9_\-]+",


def search_cli_args(run):
    r = SEARCH["runs"][run]
    args = [
        f"--max-layers {r['max_layers']}",
        f"--resolution {r['resolution']}",
        f"--frames {r['frames']}",
        f"--iterations {r['iterations']}",
        f"--population {r['population']}",
        f"--seed {r['seed']}",
        f"--score {r['score']}",
        f"--kernels {r['kernels']}",
        f"--template {r['template']}",
        f"--lanes {SEARCH['lanes']}",
        f"--sync-every {SEARCH['sync_every']}",
        f"--topk {SEARCH['topk']}",
    ]
    if r.get("budget_gflops") is not None:
        args.append(f"--budget-gflops {r['budget_gflops']}")
    if r.get("budget_params") is not None:
        args.append(f"--budget-params {r['budget_params']}")
    if r.get("alpha_resolution") is not None:
        args.append(f"--alpha-resolution {r['alpha_resolution']}")
    return " ".join(args)


rule search:
    output:
        arch=f"{WORK}/search/{{run}}/arch.json",
        topk=f"{WORK}/search/{{run}}/topk.json",
        trace=f"{WORK}/search/{{run}}/trace.parquet",
    log:
        f"{LOGS}/search/{{run}}.log",
    benchmark:
        f"{LOGS}/search/{{run}}.benchmark.tsv"
    threads: SEARCH["threads"]
    params:
        cfg=lambda wc: SEARCH["runs"][wc.run],
        shared={k: SEARCH[k] for k in ("lanes", "sync_every", "topk")},
        args=lambda wc: search_cli_args(wc.run),
        state=lambda wc: f"{WORK}/search/.state/{wc.run}",
        code=code_digest_param("search"),
    shell:
        "e3d search {params.args} --workers {threads} --state-dir {params.state} --name {wildcards.run} "
        "--out $(dirname {output.arch}) > {log} 2>&1"


rule x3d_kernel_variants:
    output:
        f"{WORK}/search/x3d_kernel_variants.json",
    log:
        f"{LOGS}/search/x3d_kernel_variants.log",
    params:
        cfg=SEARCH["x3d_kernel_variants"],
        code=code_digest_param("search"),
    shell:
        "python -m e3d.search.variants --out {output} --base {params.cfg[base]} "
        "--resolution {params.cfg[resolution]} --frames {params.cfg[frames]} > {log} 2>&1"


ALL_TARGETS.extend(expand(f"{WORK}/search/{{run}}/{{f}}", run=sorted(SEARCH["runs"]),
                          f=["arch.json", "topk.json", "trace.parquet"]))
if SEARCH["x3d_kernel_variants"]["enabled"]:
    ALL_TARGETS.append(f"{WORK}/search/x3d_kernel_variants.json")
