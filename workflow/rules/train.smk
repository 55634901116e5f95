# Training, multi-view evaluation and profiling of every (dataset, model) in config `train.datasets` x `models`.
# train -> model.pt (+ metrics.parquet, arch.json); evaluate -> {multiview,single_frame}.metrics.json; profile.
import json
import shlex

from e3d.train.settings import TrainSettings

TRAIN_CFG = config["train"]
MODELS = config["models"]
EVAL_CFG = config["evaluate"]
EVAL_KINDS = ["multiview"] + (["single_frame"] if EVAL_CFG["single_frame_control"] else [])


wildcard_constraints:
    model=r"[A-Za-z0-9_.\-]+",
    eval_kind="|".join(EVAL_KINDS),


def train_settings(dataset, model):
    """train.settings, then the dataset's overrides, then the model's; checked here so a bad value fails
    at DAG time with the key named."""
    merged = dict(TRAIN_CFG["settings"])
    merged.update(TRAIN_CFG["dataset_settings"].get(dataset, {}))
    merged.update(MODELS[model].get("settings", {}))
    try:
        return TrainSettings.from_dict(merged).to_dict()
    except Exception as exc:
        raise ValueError(f"config: training settings for dataset {dataset!r}, model {model!r}: {exc}") from exc


def arch_source(model):
    """(file input or None, architecture reference for `e3d train --arch`)."""
    if model not in MODELS:
        raise ValueError(f"config: no model {model!r} in models (have {sorted(MODELS)})")
    ref = MODELS[model]["arch"]
    kind, _, value = ref.partition(":")
    if kind == "search":
        path = f"{WORK}/search/{value}/arch.json"
        return path, f"search:{path}"
    if kind == "spec":
        return value, ref
    return None, ref


def model_flags(model):
    m = MODELS[model]
    flags = []
    if m.get("se_ratio") is not None:
        flags += ["--se-ratio", str(m["se_ratio"])]
    if m.get("act") is not None:
        flags += ["--act", m["act"]]
    return " ".join(shlex.quote(f) for f in flags)


def train_resources():
    r = TRAIN_CFG["resources"]
    res = {"mem_mb": r["mem_mb"], "runtime": r["runtime"]}
    if r["gpus"] > 0:
        res.update(gpu=r["gpus"], cpus_per_gpu=r["cpus_per_gpu"])
        if r["gpu_model"]:
            res["gpu_model"] = r["gpu_model"]
    return res


def train_threads():
    r = TRAIN_CFG["resources"]
    return r["gpus"] * r["cpus_per_gpu"] if r["gpus"] > 0 else r["cpus"]


rule train:
    input:
        store=f"{WORK}/data/{{dataset}}/frames/manifest.json",
        arch=lambda w: [p for p in [arch_source(w.model)[0]] if p],
    output:
        model=f"{WORK}/train/{{dataset}}/{{model}}/model.pt",
        metrics=f"{WORK}/train/{{dataset}}/{{model}}/metrics.parquet",
        arch=f"{WORK}/train/{{dataset}}/{{model}}/arch.json",
    params:
        settings=lambda w: shlex.quote(json.dumps(train_settings(w.dataset, w.model), sort_keys=True)),
        arch=lambda w: shlex.quote(arch_source(w.model)[1]),
        flags=lambda w: model_flags(w.model),
        precision=TRAIN_CFG["precision"],
        # Resumable state lives outside the declared outputs: Snakemake deletes those before a rerun.
        state=lambda w: f"{WORK}/train_state/{w.dataset}/{w.model}",
        code=code_digest_param("train"),
    log:
        f"{LOGS}/train/{{dataset}}/{{model}}.log",
    benchmark:
        f"{LOGS}/train/{{dataset}}/{{model}}.benchmark.tsv"
    threads: train_threads()
    # No `tasks`: the SLURM plugin would turn it into --ntasks-per-gpu and start the job once per GPU;
    # torchrun below starts one process per visible GPU instead (one CPU process when there is none).
    resources:
        **train_resources(),
    shell:
        "NPROC=$(python -m e3d.train.launch) && "
        "torchrun --standalone --nproc_per_node=$NPROC -m e3d.cli train"
        " --store $(dirname {input.store}) --arch {params.arch} --settings {params.settings} {params.flags}"
        " --precision {params.precision} --out $(dirname {output.model}) --state-dir {params.state}"
        " > {log} 2>&1"


rule evaluate:
    input:
        store=f"{WORK}/data/{{dataset}}/frames/manifest.json",
        model=rules.train.output.model,
    output:
        scores=f"{WORK}/eval/{{dataset}}/{{model}}/{{eval_kind}}.scores.parquet",
        metrics=f"{WORK}/eval/{{dataset}}/{{model}}/{{eval_kind}}.metrics.json",
    params:
        cfg=EVAL_CFG,
        single=lambda w: "--single-frame" if w.eval_kind == "single_frame" else "",
        crop=lambda w: f"--crop {EVAL_CFG['crop']}" if EVAL_CFG["crop"] else "",
        code=code_digest_param("evaluate"),
    log:
        f"{LOGS}/eval/{{dataset}}/{{model}}/{{eval_kind}}.log",
    benchmark:
        f"{LOGS}/eval/{{dataset}}/{{model}}/{{eval_kind}}.benchmark.tsv"
    threads: TRAIN_CFG["resources"]["cpus"]
    shell:
        "e3d evaluate --model {input.model} --store $(dirname {input.store}) --split {params.cfg[split]}"
        " --views {params.cfg[views]} --clips {params.cfg[clips]} --batch-size {params.cfg[batch_size]}"
        " {params.crop} {params.single} --scores {output.scores} --metrics {output.metrics} > {log} 2>&1"


rule profile:
    input:
        arch=rules.train.output.arch,
    output:
        f"{WORK}/profile/{{dataset}}/{{model}}/profile.json",
    params:
        latency="--latency" if EVAL_CFG["latency"] else "",
        code=code_digest_param("evaluate"),
    log:
        f"{LOGS}/profile/{{dataset}}/{{model}}.log",
    shell:
        "e3d profile {input.arch}"
        " --resolution $(python -c \"import json; print(json.load(open('{input.arch}'))['spec']['resolution'])\")"
        " --frames $(python -c \"import json; print(json.load(open('{input.arch}'))['spec']['frames'])\")"
        " --classes $(python -c \"import json; print(json.load(open('{input.arch}'))['num_classes'])\")"
        " {params.latency} --out {output} > {log} 2>&1"


for _ds in TRAIN_CFG["datasets"]:
    for _m in MODELS:
        ALL_TARGETS.extend(expand(rules.evaluate.output.metrics, dataset=_ds, model=_m, eval_kind=EVAL_KINDS))
        ALL_TARGETS.append(f"{WORK}/profile/{_ds}/{_m}/profile.json")
