"""`e3d train` and `e3d evaluate` end to end on a real (tiny) frame store and a real spec-built model."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
import torch

from workflow_config import TINY_SPEC

SETTINGS = {"epochs": 1, "batch_size": 2, "lr": 0.05, "frames": 4, "crop": 24, "num_workers": 0, "flip": False,
            "checkpoint_every": 2}


def e3d(env, *args, check=True):
    r = subprocess.run([sys.executable, "-m", "e3d.cli", *map(str, args)], env=env, capture_output=True, text=True,
                       timeout=300)
    if check:
        assert r.returncode == 0, r.stderr[-3000:]
    return r


@pytest.fixture(scope="module")
def store(tmp_path_factory, cli_env):
    d = tmp_path_factory.mktemp("store")
    e3d(cli_env, "synth", "--out", d / "raw", "--classes", 2, "--clips-per-class", 5, "--min-side", 32,
        "--max-side", 40, "--min-seconds", 0.6, "--max-seconds", 1.0, "--webm-fraction", 0)
    e3d(cli_env, "index", "--format", "synthetic", "--root", d / "raw", "--out", d / "index.parquet")
    e3d(cli_env, "extract", "--index", d / "index.parquet", "--out", d / "frames", "--short-side", 32, "--shards", 1)
    return d / "frames"


def test_train_then_evaluate_from_a_spec_file(tmp_path, store, cli_env):
    spec = tmp_path / "tiny.json"
    spec.write_text(json.dumps(TINY_SPEC))
    out, state = tmp_path / "out", tmp_path / "state"
    r = e3d(cli_env, "train", "--store", store, "--arch", f"spec:{spec}", "--settings", json.dumps(SETTINGS),
            "--act", "relu", "--out", out, "--state-dir", state)
    assert json.loads(r.stdout.strip().splitlines()[-1])["epochs"] == 1
    ckpt = torch.load(out / "model.pt", weights_only=True)
    assert ckpt["record"]["spec"]["frames"] == 4 and ckpt["record"]["spec"]["resolution"] == 24
    assert ckpt["record"]["build_options"] == {"act": "relu"}
    assert (state / "last.pt").exists() and not (out / "last.pt").exists()
    arch = json.loads((out / "arch.json").read_text())
    assert arch["num_classes"] == 2 and arch["provenance"]["schema"] == "model_record"
    from e3d.arch.resolve import resolve_spec

    trained = resolve_spec(str(out / "arch.json"))  # the network as trained, for `e3d profile`
    assert trained.frames == 4 and trained.resolution == 24 and trained.stem.act == "relu"

    m = tmp_path / "eval"
    r = e3d(cli_env, "evaluate", "--model", out / "model.pt", "--store", store, "--views", "lcr", "--clips", 2,
            "--batch-size", 3, "--scores", m / "scores.parquet", "--metrics", m / "metrics.json")
    doc = json.loads((m / "metrics.json").read_text())
    assert doc["views"] == {"mode": "lcr", "name": "2-LeftCenterRight", "clips": 2, "crops": 3, "spacing": "pyslowfast"}
    assert doc["gflops"].endswith(" x 3 x 2") and doc["gflops_per_view"] > 0
    assert 0.0 <= doc["top1"] <= doc["top5"] == 1.0 and doc["chance_top1"] == 0.5
    scores = pd.read_parquet(m / "scores.parquet")
    assert len(scores) == doc["videos"] == 2 and (scores["views"] == 6).all()

    r = e3d(cli_env, "evaluate", "--model", out / "model.pt", "--store", store, "--single-frame",
            "--scores", m / "sf.parquet", "--metrics", m / "sf.json")
    assert json.loads((m / "sf.json").read_text())["single_frame"] is True


def test_bad_inputs_are_one_line_errors(tmp_path, store, cli_env):
    r = e3d(cli_env, "train", "--store", store, "--arch", "builtin:no-such-net", "--out", tmp_path / "o",
            "--state-dir", tmp_path / "s", check=False)
    assert r.returncode == 2 and "no-such-net" in r.stderr and "Traceback" not in r.stderr
    r = e3d(cli_env, "train", "--store", store, "--arch", "builtin:e3d-s", "--settings", '{"epoch": 2}',
            "--out", tmp_path / "o", "--state-dir", tmp_path / "s", check=False)
    assert r.returncode == 2 and "unknown key(s) ['epoch']" in r.stderr
    r = e3d(cli_env, "evaluate", "--model", tmp_path / "missing.pt", "--store", store, "--scores", tmp_path / "x",
            "--metrics", tmp_path / "y", check=False)
    assert r.returncode == 2 and "missing.pt" in r.stderr and "Traceback" not in r.stderr
    r = e3d(cli_env, "train", "--store", store, "--arch", "builtin:x3d-s", "--init", tmp_path / "nope.pyth",
            "--out", tmp_path / "o", "--state-dir", tmp_path / "s", check=False)
    assert r.returncode == 2 and "nope.pyth: cannot read the init checkpoint" in r.stderr and "Traceback" not in r.stderr
    spec = tmp_path / "tiny.json"
    spec.write_text(json.dumps(TINY_SPEC))
    junk = tmp_path / "other.pt"
    torch.save({"backbone.conv.weight": torch.zeros(1)}, junk)
    r = e3d(cli_env, "train", "--store", store, "--arch", f"spec:{spec}", "--init", junk, "--settings",
            json.dumps(SETTINGS), "--out", tmp_path / "o", "--state-dir", tmp_path / "s", check=False)
    assert r.returncode == 2 and "unknown checkpoint layout" in r.stderr and "Traceback" not in r.stderr
