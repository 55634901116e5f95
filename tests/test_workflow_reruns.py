"""Precise reruns, read from the real snakemake's dry-run on a tiny version of the whole default workflow.

The workflow runs once in an editable copy of the repository; each test then changes one thing (a config value,
a library module, a raw video), asks `snakemake -n` what it would run, and puts the change back.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from smk import dry_run, rules_of, snakemake
from workflow_config import copy_repo, env_for, tiny_workflow_config, write_config

pytestmark = pytest.mark.slow

DATA_RULES = {"synth_synthetic", "index", "extract_synthetic"}
TRAIN_RULES = {"train", "evaluate", "profile"}


@pytest.fixture(scope="module")
def built(tmp_path_factory, repo_root, cli_env):
    base = tmp_path_factory.mktemp("reruns")
    repo = copy_repo(repo_root, base / "repo")
    env = env_for(repo, cli_env)
    # The copy's embedded default becomes the tiny config (an overlay could not remove the default's extra runs).
    cfg = write_config(repo / "config" / "config.yaml", tiny_workflow_config(base))
    proc = snakemake(["--cores", "2", "all"], repo, env, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return SimpleNamespace(base=base, repo=repo, env=env, cfg=cfg)


def plan(built, cfg: Path | None = None):
    return dry_run(built.repo, built.env, ["all", *(["--configfile", str(cfg)] if cfg else [])])


def overlay(built, name: str, **overrides) -> Path:
    """A config file holding only the change, merged over the copy's config by snakemake."""
    return write_config(built.base / f"{name}.yaml", overrides)


def test_second_run_has_nothing_to_do(built):
    assert plan(built) == []


def test_changing_the_m_budget_reruns_only_the_m_search_and_what_reads_it(built):
    jobs = plan(built, overlay(built, "m_budget", search={"runs": {"m": {"budget_gflops": 4.5}}}))
    searches = {j.wildcards for j in jobs if j.rule == "search"}
    assert searches == {"run=m"}
    assert not rules_of(jobs) & (DATA_RULES | TRAIN_RULES)
    # what does read the M search: the search-cost table and the search traces (and the report's copy of the config)
    assert rules_of(jobs) - {"search"} <= {"table4_search_cost", "search_traces", "config_used"}


def test_changing_one_models_epochs_reruns_that_model_and_its_tables_only(built):
    jobs = plan(built, overlay(built, "epochs", models={"tiny": {"settings": {"epochs": 2}}}))
    stage_jobs = [j for j in jobs if j.rule in TRAIN_RULES]
    assert {j.rule for j in stage_jobs} == TRAIN_RULES
    assert all("model=tiny," in j.wildcards + "," for j in stage_jobs), [j.wildcards for j in stage_jobs]
    assert not rules_of(jobs) & (DATA_RULES | {"search"})


def _edit(path: Path):
    original = path.read_bytes()
    path.write_bytes(original + b"\n# an edit that changes the code digest\n")
    return original


def test_editing_the_scorer_reruns_searches_not_data(built):
    target = built.repo / "src" / "e3d" / "score" / "entropy.py"
    original = _edit(target)
    try:
        jobs = plan(built)
    finally:
        target.write_bytes(original)
    # every search reruns: S/M/L and the training-free baselines' searches (Table 7) all use the scorer
    assert {"run=s", "run=m", "run=l"} <= {j.wildcards for j in jobs if j.rule == "search"}
    assert all("Params have changed" in j.reason or "updated by another job" in j.reason for j in jobs if j.rule != "all")
    assert not rules_of(jobs) & DATA_RULES
    assert plan(built) == []


def test_editing_the_data_code_reruns_extraction_not_searches(built):
    target = built.repo / "src" / "e3d" / "data" / "extract.py"
    original = _edit(target)
    try:
        jobs = plan(built)
    finally:
        target.write_bytes(original)
    assert "extract_synthetic" in rules_of(jobs)
    assert "search" not in rules_of(jobs)


def test_editing_readme_or_tests_reruns_nothing(built):
    edited = [built.repo / "README.md", built.repo / "tests" / "test_config.py"]
    originals = [_edit(p) for p in edited]
    try:
        assert plan(built) == []
    finally:
        for p, o in zip(edited, originals):
            p.write_bytes(o)


def _raw_videos(built) -> list[Path]:
    return sorted(p for p in (built.base / "work" / "raw" / "synthetic").rglob("*") if p.suffix in (".mp4", ".webm"))


def test_touching_a_raw_video_reruns_nothing_and_replacing_it_reextracts(built):
    videos = _raw_videos(built)
    victim, other = videos[0], next(v for v in videos[1:] if v.suffix == videos[0].suffix)
    later = time.time() + 60
    os.utime(victim, (later, later))
    assert plan(built) == []

    original = victim.read_bytes()
    shutil.copyfile(other, victim)
    try:
        jobs = plan(built)
    finally:
        victim.write_bytes(original)
    rules = rules_of(jobs)
    assert {"index", "extract_synthetic"} <= rules and "synth_synthetic" not in rules and "search" not in rules
    assert plan(built) == []  # the original bytes are back: nothing to do again


def _artifacts(base: Path):
    for root in (base / "work", base / "res"):
        for p in root.rglob("*"):
            if p.is_file() and not p.name.startswith(".") and "train_state" not in p.parts and ".state" not in p.parts:
                yield p


def _check_readable(path: Path) -> None:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        pq.read_table(path)
    elif path.suffix == ".json":
        json.loads(path.read_text())
    elif path.suffix == ".pt":
        import torch

        torch.load(path, weights_only=True)


def test_killed_snakemake_then_rerun_finishes_with_no_corrupt_artifact(built):
    cfg = overlay(built, "killed", models={"tiny": {"settings": {"epochs": 3}}})
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", "all", "--configfile", str(cfg)]
    proc = subprocess.Popen(cmd, cwd=built.repo, env=built.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    state = built.base / "work" / "train_state" / "synthetic" / "tiny"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if any(state.glob("*.pt")):
            break
        time.sleep(0.2)
    assert proc.poll() is None, "snakemake finished before it could be killed mid-training"
    os.killpg(proc.pid, signal.SIGKILL)  # snakemake and the training it started, at once
    proc.wait()

    again = snakemake(["--cores", "2", "all", "--configfile", str(cfg)], built.repo, built.env, timeout=1200)
    assert again.returncode == 0, again.stderr[-4000:]
    assert dry_run(built.repo, built.env, ["all", "--configfile", str(cfg)]) == []
    checked = 0
    for path in _artifacts(built.base):
        _check_readable(path)
        checked += 1
    assert checked > 20
