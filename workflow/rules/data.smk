# Data stage: synth (built-in synthetic set only) -> index -> extract (-> cache, for a dataset with the clip cache on),
# for every dataset in config["data"]["datasets"].
# The rules form the group "data": on a cluster each dataset's chain of small jobs is submitted as one job.
# Every training waits for this chain, so its rules go first (priority DATA_PRIORITY) when jobs compete for cores.
# Products: {WORK}/data/{dataset}/index.parquet (+ index_summary.json) and {WORK}/data/{dataset}/frames/manifest.json
# with its shard-XXXXX.parquet files (declared one by one so Snakemake sees every file it depends on); the cache's
# {WORK}/data/{dataset}/cache/manifest.json and frames.u8.
import os

from e3d.cliflags import to_flags
from e3d.data.workflow import DataConfig

DATA = DataConfig(config)
DATA_PRIORITY = 50


# One synth rule per generated dataset: its outputs name every video file (from the synth plan), so that the
# index job can declare the videos as inputs (touching one reruns nothing, replacing one re-indexes).
for _name in [n for n in DATA.datasets if DATA.is_generated(n)]:

    rule:
        name:
            f"synth_{_name}"
        output:
            manifest=LAYOUT.synth_manifest(_name),
            train=f"{LAYOUT.raw_dir(_name)}/annotations/train.csv",
            val=f"{LAYOUT.raw_dir(_name)}/annotations/validate.csv",
            classes=f"{LAYOUT.raw_dir(_name)}/classes.txt",
            videos=DATA.video_files(_name),
        params:
            cfg=DATA.synth_slice(_name),
            flags=to_flags(DATA.synth_slice(_name), sort=True),
            out=lambda wildcards, output: os.path.dirname(output.manifest),
            code=code_digest_param("data"),
        log:
            f"{LOGS}/data/{_name}/synth.log",
        priority: DATA_PRIORITY
        threads: DATA.threads
        resources:
            mem_mb=1000,
        group:
            "data"
        conda:
            "../../envs/cpu.yaml"
        shell:
            "e3d synth --out {params.out:q} --threads {threads} {params.flags} > {log} 2>&1"


rule index:
    input:
        annotations=lambda wildcards: DATA.index_inputs(wildcards.dataset),
        videos=lambda wildcards: DATA.video_files(wildcards.dataset),
    output:
        index=LAYOUT.index("{dataset}"),
        summary=LAYOUT.index_summary("{dataset}"),
    params:
        cfg=lambda wildcards: DATA.index_slice(wildcards.dataset),
        args=lambda wildcards: DATA.index_args(wildcards.dataset),
        code=code_digest_param("data"),
    log:
        f"{LOGS}/data/{{dataset}}/index.log",
    priority: DATA_PRIORITY
    threads: DATA.threads
    resources:
        mem_mb=1000,
    group:
        "data"
    conda:
        "../../envs/cpu.yaml"
    shell:
        "e3d index --name {wildcards.dataset} {params.args} --threads {threads}"
        " --out {output.index} --summary {output.summary} > {log} 2>&1"


# One extract rule per dataset: the number of shards is a per-dataset setting and Snakemake cannot
# compute a job's outputs from its wildcards, so each rule lists its own shard files.
for _name in DATA.datasets:

    rule:
        name:
            f"extract_{_name}"
        input:
            index=LAYOUT.index(_name),
        output:
            manifest=LAYOUT.frames_manifest(_name),
            shards=DATA.shard_paths(_name),
        params:
            cfg=DATA.datasets[_name]["extract"],
            flags=to_flags(DATA.datasets[_name]["extract"], sort=True),
            root=DATA.root(_name),
            out=lambda wildcards, output: os.path.dirname(output.manifest),
            code=code_digest_param("data"),
        log:
            f"{LOGS}/data/{_name}/extract.log",
        benchmark:
            f"{LOGS}/data/{_name}/extract.benchmark.tsv"
        priority: DATA_PRIORITY
        threads: DATA.threads
        resources:
            mem_mb=2000,
        group:
            "data"
        conda:
            "../../envs/cpu.yaml"
        shell:
            "e3d extract --index {input.index} --root {params.root:q} --out {params.out:q}"
            " --threads {threads} {params.flags} > {log} 2>&1"

    TARGETS.add([LAYOUT.index(_name)])
    if DATA.source(_name) == "frames":  # `source: video` reads the videos: no frame store unless a stage asks
        TARGETS.add([LAYOUT.frames_manifest(_name)])


# The decoded-clip cache of a dataset with `cache: {enabled: true}` (e3d.data.cache): every frame of its source
# (the frame store, or the videos for `source: video`) decoded once and resized to the short side training and
# evaluation need, in one memory-mapped file that the train and evaluate rules then read (DataConfig.clip_input).
# Its params are its config slice: changing the short side reruns only it and what reads it.
rule cache:
    input:
        clips=lambda w: DATA.source_input(w.dataset),
    output:
        manifest=LAYOUT.cache_manifest("{dataset}"),
        frames=LAYOUT.cache_frames("{dataset}"),
    params:
        cfg=lambda w: DATA.cache_slice(w.dataset),
        source=lambda w, input: DATA.source_args(w.dataset, input.clips),
        out=lambda w, output: os.path.dirname(output.manifest),
        code=code_digest_param("cache"),
    log:
        f"{LOGS}/data/{{dataset}}/cache.log",
    benchmark:
        f"{LOGS}/data/{{dataset}}/cache.benchmark.tsv"
    priority: DATA_PRIORITY
    threads: DATA.threads
    resources:
        mem_mb=2000,
    group:
        "data"
    conda:
        "../../envs/cpu.yaml"
    shell:
        "e3d cache {params.source} --short-side {params.cfg[short_side]} --out {params.out:q}"
        " --threads {threads} > {log} 2>&1"
