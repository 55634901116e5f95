"""The train -> evaluate -> profile rules under the real snakemake (tiny data, a tiny spec-built model)."""

from __future__ import annotations

import json

import pytest
import yaml

from smk import run_locally
from test_train_cli import TINY_SPEC
from workflow_config import TINY_TRAIN_SETTINGS, tiny_data, tiny_dirs, tiny_spec_ref, write_config

pytestmark = pytest.mark.slow


def tiny_config(tmp_path, **train_over):
    cfg = {
        **tiny_dirs(tmp_path),
        "data": tiny_data(threads=2),
        "models": {"tiny": {"arch": tiny_spec_ref(tmp_path), "act": "relu"}},
        "train": {"settings": dict(TINY_TRAIN_SETTINGS), **train_over},
        "evaluate": {"views": "lcr", "clips": 2, "batch_size": 4},
    }
    return write_config(tmp_path / "cfg.yaml", cfg)


def test_dry_run_declares_gpu_resources_and_launches_torchrun(tmp_path, repo_root, cli_env):
    cfg = tiny_config(tmp_path, resources={"gpus": 8, "gpu_model": "a100", "cpus_per_gpu": 12, "mem_mb": 64000,
                                           "runtime": 600})
    out = run_locally(repo_root, cli_env, "-n", "-p", "--configfile", cfg)
    assert out.returncode == 0, out.stderr[-3000:]
    text = out.stdout + out.stderr
    train_job = text[text.index("rule train:") :].split("\n\n")[0]
    for res in ("gpu=8", "gpu_model=a100", "cpus_per_gpu=12", "mem_mb=64000", "runtime=600"):
        assert res in train_job, res
    assert "tasks=" not in train_job  # the plugin would start the job once per GPU
    assert "torchrun --standalone --nproc_per_node=$NPROC -m e3d.cli train" in text
    assert f"--state-dir {tmp_path}/work/train_state/synthetic/tiny" in text  # outside the declared outputs
    assert '"flip": false' in text  # the synthetic set's classes are directional
    for job in ("train", "evaluate", "profile"):
        assert f"rule {job}:" in text
    assert "single_frame.metrics.json" in text and "multiview.metrics.json" in text


def test_video_source_trains_from_the_index_without_extracting(tmp_path, repo_root, cli_env):
    from smk import planned_jobs

    path = tiny_config(tmp_path)
    cfg = yaml.safe_load(path.read_text())
    cfg["data"]["datasets"]["synthetic"]["source"] = "video"
    path.write_text(yaml.safe_dump(cfg))
    targets = [tmp_path / f"work/eval/synthetic/tiny/{k}.metrics.json" for k in ("multiview", "single_frame")]
    out = run_locally(repo_root, cli_env, "-n", "-p", *targets, "--configfile", path)
    assert out.returncode == 0, out.stderr[-3000:]
    text = out.stdout + out.stderr
    rules = {j.rule for j in planned_jobs(text)}
    assert {"train", "evaluate", "index", "synth_synthetic"} <= rules and "extract_synthetic" not in rules
    index = f"{tmp_path}/work/data/synthetic/index.parquet"
    assert f"--index {index} --source video" in text and "--store" not in text
    assert '"short_side": 32' in text  # the extract settings define the frames the video source reads


def test_bad_override_fails_naming_dataset_model_and_key(tmp_path):
    from e3d.config import load_config
    from e3d.train.workflow import TrainConfig

    cfg = load_config(tiny_config(tmp_path))
    cfg["models"]["tiny"]["settings"] = {"batch_size": 0}
    with pytest.raises(ValueError, match="dataset 'synthetic', model 'tiny'.*batch_size"):
        TrainConfig(cfg).settings("synthetic", "tiny")


def test_train_and_evaluate_end_to_end_then_nothing_reruns(tmp_path, repo_root, cli_env):
    cfg = tiny_config(tmp_path)
    targets = [tmp_path / f"work/eval/synthetic/tiny/{k}.metrics.json" for k in ("multiview", "single_frame")]
    targets.append(tmp_path / "work/profile/synthetic/tiny/profile.json")
    out = run_locally(repo_root, cli_env, *targets, "--configfile", cfg)
    assert out.returncode == 0, out.stderr[-3000:]
    doc = json.loads(targets[0].read_text())
    assert doc["gflops"].endswith("x 3 x 2") and doc["videos"] == 2
    assert json.loads(targets[1].read_text())["single_frame"] is True
    assert "gflops" in (tmp_path / "work/profile/synthetic/tiny/profile.json").read_text()
    log = (tmp_path / "logs/train/synthetic/tiny.log").read_text()
    assert "1 process(es) on cpu" in log
    assert (tmp_path / "work/train_state/synthetic/tiny/last.pt").is_file()
    again = run_locally(repo_root, cli_env, "-n", *targets, "--configfile", cfg)
    assert "Nothing to be done" in again.stdout + again.stderr


def test_paper_overlay_trains_its_own_model_list_on_8_gpus(repo_root):
    from e3d.config import load_config
    from e3d.train.workflow import TrainConfig

    t = TrainConfig(load_config(repo_root / "config/config.yaml", repo_root / "config/paper.yaml"))
    assert t.trained == ["e3d-s", "e3d-m", "e3d-l", "x3d-s", "x3d-m", "x3d-l"]
    assert t.resources() == {"mem_mb": 240000, "runtime": 10080, "gpu": 8, "cpus_per_gpu": 8, "gpu_model": "a100"}
    s = t.settings("kinetics400", "e3d-m")
    assert (s["epochs"], s["lr"], s["warmup_epochs"], s["weight_decay"], s["momentum"]) == (256, 0.4, 15, 5e-5, 0.9)
    assert (s["frames"], s["crop"]) == (16, 224)
    assert t.settings("sthv2", "e3d-s")["flip"] is False and t.settings("sthv2", "e3d-s")["lr"] == 0.8
    assert t.arch_source("e3d-s") == ("work/search/s/arch.json", "search:work/search/s/arch.json")
    default = TrainConfig(load_config(repo_root / "config/config.yaml"))
    assert default.settings("synthetic", "e3d-initial-t3")["flip"] is False and default.resources().get("gpu") is None


def test_unknown_model_in_the_train_list_is_named(repo_root):
    from e3d.config import load_config
    from e3d.train.workflow import TrainConfig

    cfg = load_config(repo_root / "config/config.yaml")
    cfg["train"]["models"] = ["e3d-xl"]
    with pytest.raises(ValueError, match="e3d-xl"):
        TrainConfig(cfg)


def test_init_checkpoint_trains_from_it_and_replacing_it_retrains(tmp_path, repo_root, cli_env):
    import os

    import torch

    from smk import dry_run

    from e3d.arch.spec import spec_from_dict
    from e3d.models import build_model
    from e3d.train import checkpoint

    def save_init(seed):  # an e3d model.pt of the same tiny net with 5 classes (the run has 2: head re-initialised)
        torch.manual_seed(seed)
        net = build_model(spec_from_dict(TINY_SPEC), 5, act="relu")
        checkpoint.save(init, {"model": net.state_dict(), "record": {}, "num_classes": 5})

    init = tmp_path / "pretrained.pt"
    save_init(0)
    cfg = tiny_config(tmp_path)
    doc = yaml.safe_load(cfg.read_text())
    doc["models"]["tiny"]["init"] = str(init)
    cfg.write_text(yaml.safe_dump(doc))
    model = tmp_path / "work/train/synthetic/tiny/model.pt"
    out = run_locally(repo_root, cli_env, model, "--configfile", cfg)
    assert out.returncode == 0, out.stderr[-3000:]
    log = (tmp_path / "logs/train/synthetic/tiny.log").read_text()
    assert f"init: {init}: " in log and "init: head 5 -> 2 classes re-initialised" in log
    rec = torch.load(model, weights_only=True)["record"]["init"]
    assert rec["layout"] == "e3d" and rec["head"] == "re-initialised 5 -> 2 classes"
    assert dry_run(repo_root, cli_env, [str(model), "--configfile", str(cfg), "--nolock"]) == []
    # other weights in the same file, its mtime set back before the model's: the content digest reruns training
    stamp = model.stat().st_mtime_ns - 10**9
    save_init(1)
    os.utime(init, ns=(stamp, stamp))
    jobs = dry_run(repo_root, cli_env, [str(model), "--configfile", str(cfg), "--nolock"])
    train = [j for j in jobs if j.rule == "train"]
    assert len(train) == 1 and "params" in train[0].reason.lower(), jobs
