"""e3d profile and profile_model."""

import json
import subprocess
import sys

import pytest

from e3d.arch.builtins import get_builtin
from e3d.artifacts import read_json
from e3d.models.profile import profile_model


def test_profile_model_reports_fvcore_beside_analytic():
    r = profile_model(get_builtin("e3d-initial"), 32, 2, 10, latency=True, device="cpu", batch=2, warmup=1, repeats=2)
    assert r["analytic_matches_fvcore"]
    assert r["fvcore_gflops_conv"] == pytest.approx(r["analytic_gflops"])
    assert r["fvcore_gflops_full"] > r["fvcore_gflops_conv"]  # fvcore's default also counts batch norm
    assert r["fvcore_params"] == r["analytic_params"]
    lat = r["latency"]
    assert lat["batch"] == 2 and lat["device"].startswith("cpu") and lat["precision"] == "fp32"
    assert lat["throughput_videos_per_s"] == pytest.approx(1000.0 / lat["latency_ms_per_video"])


def test_cli_writes_artifact(tmp_path, cli_env):
    out = tmp_path / "p.json"
    proc = subprocess.run([sys.executable, "-m", "e3d.cli", "profile", "x3d-s", "--resolution", "32", "--frames", "2",
                           "--classes", "5", "--out", str(out)], capture_output=True, text=True, env=cli_env)
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout)
    assert printed["arch"] == "x3d-s" and printed["analytic_matches_fvcore"]
    doc = read_json(out, schema="profile")
    assert doc["fvcore_params"] == printed["fvcore_params"] and "conv+linear MACs" in doc["convention"]


def test_cli_errors_are_one_line(cli_env):
    for argv in (["profile", "nonexistent-net"], ["profile", "e3d-s", "--frames", "0"],
                 ["profile", "e3d-s", "--single-clip-repeats", "2"], ["profile", "e3d-s", "--threads", "0"]):
        proc = subprocess.run([sys.executable, "-m", "e3d.cli", *argv], capture_output=True, text=True, env=cli_env)
        assert proc.returncode == 2
        assert proc.stderr.startswith("e3d: error:") and "Traceback" not in proc.stderr


def test_a_trained_models_record_gives_the_head_size(tmp_path, cli_env):
    from e3d.artifacts import Provenance, write_json
    from e3d.commands.profile import recorded_classes
    from e3d.train.loop import MODEL_RECORD_SCHEMA

    spec = json.loads(get_builtin("e3d-initial").to_json())
    record = tmp_path / "arch.json"
    write_json(record, {"record": {"kind": "spec", "spec": spec}, "num_classes": 7, "spec": spec},
               Provenance.make(MODEL_RECORD_SCHEMA, 1, {}, ()))
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(spec))
    assert recorded_classes(str(record)) == 7
    assert recorded_classes(str(spec_file)) is None and recorded_classes("x3d-s") is None
    docs = []
    for flags in ([], ["--classes", "7"]):  # the record's head size is what `--classes 7` gives
        out = tmp_path / f"p{len(docs)}.json"
        proc = subprocess.run([sys.executable, "-m", "e3d.cli", "profile", str(record), "--resolution", "32",
                               "--frames", "2", *flags, "--out", str(out)], capture_output=True, text=True, env=cli_env)
        assert proc.returncode == 0, proc.stderr
        docs.append(read_json(out, schema="profile"))
    assert docs[0]["fvcore_params"] == docs[1]["fvcore_params"]
    assert docs[0]["provenance"]["config_digest"] == docs[1]["provenance"]["config_digest"]


def test_paper_input_profile_rule_command_times_one_clip_and_a_batch(tmp_path, cli_env):
    """The profile_paper_input rule's command (its flags from the tables section) on two tiny built-ins at a tiny
    input, then Table 13 from the profiles: single-clip and batch timings, thread count and CPU model recorded."""
    import pandas as pd

    from e3d.config import validate_config
    from e3d.layout import Layout
    from e3d.tables.build import build
    from e3d.tables.workflow import paper_input_flags

    config = {"tables": {"table13_paper_timing": {"single_clip_warmup": 0, "single_clip_repeats": 2,
                                                  "batch_warmup": 0, "batch_repeats": 1}}}
    validate_config(config)
    layout = Layout(str(tmp_path / "work"), str(tmp_path / "res"), str(tmp_path / "logs"))
    paths = []
    for arch in ("e3d-s", "x3d-s"):
        out = layout.paper_input_profile(arch)
        argv = [sys.executable, "-m", "e3d.cli", "profile", f"builtin:{arch}", "--latency", "--device", "cpu",
                *paper_input_flags(config["tables"]).split(), "--threads", "1", "--resolution", "32", "--frames",
                "2", "--out", out]
        proc = subprocess.run(argv, capture_output=True, text=True, env=cli_env)
        assert proc.returncode == 0, proc.stderr
        doc = read_json(out, schema="profile")
        single, batch = doc["latency_single_clip"], doc["latency"]
        assert (single["batch"], single["repeats"], batch["batch"], batch["repeats"]) == (1, 2, 16, 1)
        assert single["threads"] == batch["threads"] == 1 and single["cpu_model"] and "1 threads" in batch["device"]
        assert len(single["seconds"]) == 2 and doc["num_classes"] == 400 and (doc["frames"], doc["resolution"]) == (2, 32)
        paths.append(out)
    table = tmp_path / "res" / "table13_inference.csv"
    build("table13", {"paper_profiles": paths}, {"device": "cpu"}, str(table))
    df = pd.read_parquet(table.with_suffix(".parquet")).set_index("model")
    assert df.loc["e3d-s", "input"] == "2x32^2" and df.loc["e3d-s", "latency_single_clip_ms"] > 0
    assert df.loc["e3d-s", "throughput_vs_x3d"] > 0 and df.loc["e3d-s", "rows"] == "ours"
