# Training, multi-view evaluation and profiling of every (dataset, model) in config `train.datasets` x `models`.
# train -> model.pt (+ metrics.parquet, arch.json); evaluate -> {multiview,single_frame}.metrics.json; profile.
from e3d.evaluate.protocol import protocol_flags, test_protocol
from e3d.tables.workflow import paper_input_flags
from e3d.train.workflow import TrainConfig

TRAINING = TrainConfig(config)


wildcard_constraints:
    model=r"[A-Za-z0-9_.\-]+",
    eval_kind="|".join(TRAINING.eval_kinds),


rule train:
    input:
        # the frame store's manifest, or the index for a dataset with `source: video`
        clips=lambda w: DATA.clip_input(w.dataset),
        arch=lambda w: TRAINING.arch_inputs(w.model),
    output:
        model=LAYOUT.train_file("{dataset}", "{model}", "model.pt"),
        metrics=LAYOUT.train_file("{dataset}", "{model}", "metrics.parquet"),
        arch=LAYOUT.train_file("{dataset}", "{model}", "arch.json"),
    params:
        source=lambda w, input: DATA.clip_args(w.dataset, input.clips),
        settings=lambda w: TRAINING.settings_arg(w.dataset, w.model),
        arch=lambda w: TRAINING.arch_arg(w.model),
        flags=lambda w: TRAINING.model_flags(w.model),
        # `init:` checkpoint (an input too): its content digest, so a replaced file retrains whatever its mtime
        init=lambda w: TRAINING.init_digest(w.model),
        precision=config["train"]["precision"],
        # Resumable state lives outside the declared outputs: Snakemake deletes those before a rerun.
        state=lambda w: LAYOUT.train_state(w.dataset, w.model),
        code=code_digest_param("train"),
    log:
        f"{LOGS}/train/{{dataset}}/{{model}}.log",
    benchmark:
        f"{LOGS}/train/{{dataset}}/{{model}}.benchmark.tsv"
    threads: TRAINING.threads()
    # gpu / gpu_model / cpus_per_gpu / mem_mb / runtime for the SLURM profile; no `tasks` (see TrainConfig).
    resources:
        **TRAINING.resources(),
    conda:
        TRAINING.conda_env()
    # One process per GPU torch can see, or one CPU process when there is none.
    shell:
        "export E3D_JOB_CPUS={threads} && NPROC=$(python -m e3d.train.launch) && "
        "torchrun --standalone --nproc_per_node=$NPROC -m e3d.cli train"
        " {params.source} --arch {params.arch} --settings {params.settings} {params.flags}"
        " --precision {params.precision} --out $(dirname {output.model}) --state-dir {params.state}"
        " > {log} 2>&1"


rule evaluate:
    input:
        clips=lambda w: DATA.clip_input(w.dataset),
        model=rules.train.output.model,
    output:
        scores=LAYOUT.eval_scores("{dataset}", "{model}", "{eval_kind}"),
        metrics=LAYOUT.eval_metrics("{dataset}", "{model}", "{eval_kind}"),
    params:
        source=lambda w, input: DATA.clip_args(w.dataset, input.clips),
        cfg={k: config["evaluate"][k] for k in ("split", "batch_size")},
        # this (dataset, model)'s own protocol, so changing one dataset's protocol reruns only its evaluations
        protocol=lambda w: protocol_flags(test_protocol(config["evaluate"], w.dataset, w.model)),
        single=lambda w: "--single-frame" if w.eval_kind == "single_frame" else "",
        code=code_digest_param("evaluate"),
    log:
        f"{LOGS}/eval/{{dataset}}/{{model}}/{{eval_kind}}.log",
    benchmark:
        f"{LOGS}/eval/{{dataset}}/{{model}}/{{eval_kind}}.benchmark.tsv"
    threads: config["train"]["resources"]["cpus"]
    conda:
        TRAINING.conda_env()
    shell:
        "E3D_JOB_CPUS={threads} e3d evaluate --model {input.model} {params.source} --split {params.cfg[split]}"
        " {params.protocol} --batch-size {params.cfg[batch_size]}"
        " {params.single} --scores {output.scores} --metrics {output.metrics} > {log} 2>&1"


rule profile:
    input:
        arch=rules.train.output.arch,
    output:
        LAYOUT.profile("{dataset}", "{model}"),
    params:
        latency="--latency" if config["evaluate"]["latency"] else "",
        code=code_digest_param("evaluate"),
    log:
        f"{LOGS}/profile/{{dataset}}/{{model}}.log",
    conda:
        TRAINING.conda_env()
    # arch.json holds the network as trained (SE/activation options applied) at the training clip size, and its
    # number of classes, which `e3d profile` reads from it.
    shell:
        "e3d profile {input.arch} {params.latency} --out {output} > {log} 2>&1"


# Table 13 at the paper's inputs (tables.table13_paper_models): a built-in architecture, untrained, at its spec's
# paper input (e.g. E3D-M 16 x 224^2, 400 classes) on this machine's CPU: one clip alone (batch 1), then batch 16,
# passes as tables.table13_paper_timing says. It claims every core Snakemake has (at most 16), so no other job runs
# beside the timing even when training jobs take one CPU each.
rule profile_paper_input:
    output:
        LAYOUT.paper_input_profile("{arch}"),
    wildcard_constraints:
        arch=r"[a-z0-9][a-z0-9\-]*",
    params:
        flags=paper_input_flags(config["tables"]),
        code=code_digest_param("evaluate"),
    log:
        LAYOUT.paper_input_profile_log("{arch}"),
    benchmark:
        LAYOUT.paper_input_profile_benchmark("{arch}")
    threads: min(16, max(config["train"]["resources"]["cpus"], workflow.cores))
    conda:
        TRAINING.conda_env()
    shell:
        "e3d profile builtin:{wildcards.arch} --latency --device cpu {params.flags} --threads {threads}"
        " --out {output} > {log} 2>&1"


for _model, _paths in TRAINING.model_targets().items():
    TARGETS.add(_paths, models=[_model])
