"""The default workflow (tiny) end to end through `snakemake --profile slurm` on a real single-node SLURM cluster that
the test starts on loopback (tools/slurm_local.py): every job goes through sbatch, training jobs ask for the GPUs the
profile declares, and a training job cancelled mid-run is retried and resumes from its last checkpoint.

The profile runs unchanged: the test cluster has the profile's `cpu` and `gpu` partitions and advertises an 8 x A100
node (GPU device files are plain files, so torch sees no CUDA device and training falls back to the CPU). The only
overlay is what a cluster without accounting needs: no account, and squeue for job status.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from smk import dry_run, slurm_client_env
from workflow_config import copy_repo, env_for, tiny_workflow_config, write_config

pytestmark = [pytest.mark.slow, pytest.mark.slurm]

TOOLS = Path(__file__).resolve().parents[1] / "tools"
OVERLAY = ["--slurm-no-account", "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "1",
           "--latency-wait", "10"]


@pytest.fixture(scope="module")
def cluster():
    sys.path.insert(0, str(TOOLS))
    import slurm_local

    base = Path(tempfile.mkdtemp(prefix="e3d-slurm-"))
    try:
        env = slurm_local.start(base, gpus=8)
    except slurm_local.SlurmUnavailable as exc:
        pytest.skip(f"a SLURM cluster cannot be started here: {exc}")
    yield env
    slurm_local.stop(base)


def _jobs(env) -> list[dict[str, str]]:
    """Every job slurmctld remembers (MinJobAge keeps finished ones), as key=value dicts."""
    out = subprocess.run(["scontrol", "-o", "show", "jobs"], env=env, capture_output=True, text=True).stdout
    jobs = []
    for line in out.splitlines():
        fields = dict(re.findall(r"(\w+)=(\S*)", line))
        if fields.get("JobId"):
            jobs.append(fields)
    return jobs


def _cancel_training_once(env, state_dir: Path, done: threading.Event, cancelled: list[str]) -> None:
    """As soon as the training of model `tiny` has written a checkpoint, scancel its SLURM job (once)."""
    while not done.is_set():
        if any(state_dir.glob("*.pt")):
            for job in _jobs(env):
                if job.get("JobState") == "RUNNING" and "rule_train" in job.get("Comment", "") \
                        and "tiny-s" not in job.get("Comment", "") and "tiny" in job.get("Comment", ""):
                    subprocess.run(["scancel", job["JobId"]], env=env, check=True)
                    cancelled.append(job["JobId"])
                    return
        time.sleep(0.2)


def test_default_workflow_through_the_slurm_profile(cluster, tmp_path, repo_root, cli_env):
    repo = copy_repo(repo_root, tmp_path / "repo")
    # Enough optimiser steps on `tiny` that there is a checkpoint to resume from when its job is cancelled.
    cfg = tiny_workflow_config(tmp_path, models={"tiny": {"settings": {"epochs": 6, "checkpoint_every": 1}}})
    write_config(repo / "config" / "config.yaml", cfg)
    env = slurm_client_env({**env_for(repo, cli_env), **cluster})

    done, cancelled = threading.Event(), []
    state_dir = tmp_path / "work" / "train_state" / "synthetic" / "tiny"
    watcher = threading.Thread(target=_cancel_training_once, args=(env, state_dir, done, cancelled), daemon=True)
    watcher.start()
    try:
        proc = subprocess.run([sys.executable, "-m", "snakemake", "--profile", "slurm", "all", *OVERLAY], cwd=repo,
                              env=env, capture_output=True, text=True, timeout=1800)
    finally:
        done.set()
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]

    # Every job of the DAG (all but the `all` target) was submitted with sbatch.
    submitted = re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", out)
    ran = re.findall(r"^rule (\w+):", out, flags=re.M) + re.findall(r"^localrule (\w+):", out, flags=re.M)
    assert submitted, out[-3000:]
    assert "localrule all" in out or "all" in ran
    local = [r for r in re.findall(r"^localrule (\w+):", out, flags=re.M) if r != "all"]
    assert local == [], f"jobs that did not go through sbatch: {local}"
    slurm_jobs = {j["JobId"]: j for j in _jobs(env)}
    assert {sid for _, sid in submitted} <= set(slurm_jobs)
    # The data chain of the dataset (synth -> index -> extract, group "data") went as one job.
    data_jobs = [j["Comment"] for j in slurm_jobs.values() if j.get("Comment", "").startswith("rule_data_")]
    assert len(data_jobs) == 1 and all(r in data_jobs[0] for r in ("synth", "index", "extract")), data_jobs

    # Training jobs asked for what the profile declares: 8 A100s, 8 CPUs per GPU, on the gpu partition.
    train_jobs = [j for j in slurm_jobs.values() if "rule_train" in j.get("Comment", "")]
    assert len(train_jobs) >= 3  # tiny, tiny-s, and tiny's retry
    for job in train_jobs:
        assert "gpu:a100:8" in job.get("TresPerJob", ""), job
        assert job["Partition"] == "gpu"
        assert "CpusPerTres=gres:gpu:8" in " ".join(f"{k}={v}" for k, v in job.items()) or job.get("NumCPUs") == "64"

    # The cancelled training was retried and resumed from its checkpoint; nothing is left to do.
    assert cancelled, "the training job finished before it could be cancelled"
    assert slurm_jobs[cancelled[0]]["JobState"] == "CANCELLED"
    log = (tmp_path / "logs" / "train" / "synthetic" / "tiny.log").read_text()
    assert re.search(r"resuming from .*: epoch \d+, step \d+", log), log[-2000:]
    assert dry_run(repo, env, ["all"]) == []
