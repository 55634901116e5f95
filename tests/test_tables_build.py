"""Builders from stage artifacts to tables, and the workflow helper's dataset resolution."""


import pandas as pd
import pytest

from e3d.artifacts import Provenance, write_json, write_parquet
from e3d.tables.build import BuildError, build, read_benchmark, search_energy_kwh
from e3d.tables.workflow import TablesConfig, TablesConfigError
from e3d.tables.write import verify_table

PROV = Provenance.make("test", 1, {}, ())


def eval_metrics(root, dataset, model, top1, gflops=2.0, params=3_000_000, crops=3, clips=10):
    path = root / "eval" / dataset / model / "multiview.metrics.json"
    path.parent.mkdir(parents=True)
    write_json(path, {"top1": top1, "top5": min(1.0, top1 + 0.2), "gflops_per_view": gflops, "frames": 16,
                      "crop": 224, "params": params, "views": {"mode": "lcr", "crops": crops, "clips": clips},
                      "gflops_total_per_video": gflops * crops * clips}, PROV)
    return str(path)


def search_arch(root, run, score="stentr", gflops=4.6, seconds=10.0, kernels=("1x3x3", "1x5x5", "3x3x3")):
    path = root / "search" / run / "arch.json"
    path.parent.mkdir(parents=True)
    write_json(path, {"summary": {"score_kind": score, "best_score": 200.0, "best_gflops": gflops, "seconds": seconds,
                                  "iterations": 100},
                      "search": {"kernels": list(kernels), "score": score, "population": 8}}, PROV)
    return str(path)


def test_table3_puts_ours_beside_the_paper(tmp_path):
    evals = [eval_metrics(tmp_path, "k400", "E3D-M", 0.5), eval_metrics(tmp_path, "k400", "mine", 0.25)]
    out = tmp_path / "res" / "table3_k400.csv"
    build("table3", {"evals": evals}, {"device": "cpu"}, str(out))
    meta = verify_table(out)
    assert meta["extra"]["device"] == "cpu"
    df = pd.read_parquet(out.with_suffix(".parquet")).set_index("model")
    assert df.loc["e3d-m", "top1"] == pytest.approx(50.0)
    assert df.loc["e3d-m", "top1_paper"] == pytest.approx(76.4) and df.loc["e3d-m", "top1_diff"] == pytest.approx(-26.4)
    assert df.loc["e3d-m", "views"] == "3x10" and df.loc["e3d-m", "gflops_total"] == pytest.approx(60.0)
    assert df.loc["mine", "rows"] == "ours" and df.loc["x3d-m", "rows"] == "paper"
    header = out.read_text().splitlines()[0]
    assert "top1 [%]" in header and "top1_diff [pp]" in header and "params_m [M]" in header
    row = next(line for line in out.read_text().splitlines() if line.startswith("e3d-m,"))
    assert ",50.00," in row and ",3.00," in row  # fixed decimals


def test_table4_energy_is_cpu_time_times_power(tmp_path):
    arch = search_arch(tmp_path, "m")
    bench = tmp_path / "m.benchmark.tsv"
    bench.write_text("s\th:m:s\tmax_rss\tcpu_time\n7200.0\t2:00:00\t10\t36000.0\n")
    ev = eval_metrics(tmp_path, "sthv1", "e3d-m", 0.45)
    out = tmp_path / "t4.csv"
    build("table4", {"archs": [arch], "benchmarks": [str(bench)], "evals": [ev]},
          {"search_device": "Test CPU", "watts_per_core": 10.0, "run_models": {"m": "e3d-m"},
           "run_names": {"m": "E3D-M"}}, str(out))
    df = pd.read_parquet(out.with_suffix(".parquet")).set_index("model")
    assert df.loc["e3d-m", "energy_kwh"] == pytest.approx(36000 * 10 / 3.6e6)  # 0.1 kWh
    assert df.loc["e3d-m", "search_time_h"] == pytest.approx(2.0)
    assert df.loc["e3d-m", "top1"] == pytest.approx(45.0) and df.loc["e3d-m", "top1_paper"] == pytest.approx(49.4)
    assert df.loc["e3d-m", "device_name"] == "Test CPU" and df.loc["e3d-m", "rows"] == "both"
    assert "device_power_w [W/core]" in out.read_text().splitlines()[0]


def test_energy_and_benchmark_errors(tmp_path):
    assert search_energy_kwh(3600, 1000) == pytest.approx(1.0)
    with pytest.raises(BuildError):
        search_energy_kwh(1, 0)
    bad = tmp_path / "b.tsv"
    bad.write_text("s\n1.0\n")
    with pytest.raises(BuildError, match=r"b\.tsv.*cpu_time"):
        read_benchmark(str(bad))


def test_table11_and_12_join_search_runs_to_the_paper(tmp_path):
    archs = [search_arch(tmp_path, "s"), search_arch(tmp_path, "s_homoentr", score="homoentr"),
             search_arch(tmp_path, "s_k133_333", kernels=("1x3x3", "3x3x3"))]
    ev = eval_metrics(tmp_path, "sthv1", "e3d-s", 0.47)
    out = tmp_path / "t11.csv"
    build("table11", {"archs": archs[:2], "evals": [ev]},
          {"run_names": {"s": "E3D-S", "s_homoentr": "E3D-S (HomoEntr)"}, "run_models": {"s": "e3d-s"}}, str(out))
    df = pd.read_parquet(out.with_suffix(".parquet")).set_index("model")
    assert df.loc["e3d-s-stentr", "top1"] == pytest.approx(47.0) and df.loc["e3d-s-stentr", "rows"] == "both"
    assert pd.isna(df.loc["e3d-s-homoentr", "top1"]) and df.loc["e3d-s-homoentr", "score"] == "homoentr"
    out12 = tmp_path / "t12.csv"
    build("table12", {"archs": [archs[0], archs[2]], "evals": [ev]}, {"run_models": {"s": "e3d-s"}}, str(out12))
    df = pd.read_parquet(out12.with_suffix(".parquet")).set_index("kernel_space")
    assert df.loc["1x3x3,3x3x3", "rows"] == "both" and df.loc["1x3x3,1x5x5,3x3x3", "top1"] == pytest.approx(47.0)


def test_missing_metric_names_the_file(tmp_path):
    path = tmp_path / "eval" / "d" / "m" / "multiview.metrics.json"
    path.parent.mkdir(parents=True)
    write_json(path, {"top1": 0.1}, PROV)
    with pytest.raises(BuildError, match=r"multiview\.metrics\.json.*top5"):
        build("table3", {"evals": [str(path)]}, {}, str(tmp_path / "t.csv"))
    with pytest.raises(BuildError, match="no table or figure"):
        build("table99", {}, {}, str(tmp_path / "t.csv"))


def test_figures_and_traces(tmp_path):
    evals = [eval_metrics(tmp_path, "d", "a", 0.3, gflops=1.0), eval_metrics(tmp_path, "d", "b", 0.4, gflops=3.0)]
    build("fig5", {"evals": evals}, {"device": "cpu"}, str(tmp_path / "f5.png"))
    data = pd.read_csv(tmp_path / "f5.csv")
    assert set(data["family"]) == {"ours", "paper (Table 3)"} and {"a", "b"} <= set(data["model"])
    for run in ("s", "m"):
        (tmp_path / "search" / run).mkdir(parents=True)
        write_parquet(tmp_path / "search" / run / "trace.parquet",
                      pd.DataFrame({"iteration": [10, 20], "best_score": [1.0, 2.0], "median_score": [0.5, 1.0]}), PROV)
    build("search_traces", {"traces": [str(tmp_path / "search" / r / "trace.parquet") for r in ("s", "m")]}, {},
          str(tmp_path / "tr.png"))
    assert (tmp_path / "tr.png").read_bytes()[:4] == b"\x89PNG"
    assert set(pd.read_csv(tmp_path / "tr.csv")["run"]) == {"s", "m"}


def _config(**data):
    return {"work_dir": "w", "results_dir": "r", "logs_dir": "l", "tables": {"datasets": [], "variant_models": {}, "table13": True,
                                                           "table4_runs": ["s"], "table11_runs": [], "table12_runs": []},
            "data": {"datasets": {"synthetic": {"format": "synthetic", "root": ""}, **data}},
            "search": {"runs": {"s": {"population": 8, "iterations": 10}}, "x3d_kernel_variants": {"enabled": False}},
            "models": {"a": {"arch": "search:s"}, "b": {"arch": "builtin:e3d-s"}},
            "train": {"datasets": ["synthetic"], "resources": {"gpus": 0, "cpus": 2}},
            "evaluate": {"views": "lcr", "clips": 10, "spacing": "pyslowfast",
                         "datasets": {"sthv1": {"views": "center", "clips": 1},
                                      "kinetics400": {"models": {"x3d-m": {"crop": 256}}}}}}


def _paths(targets) -> list[str]:
    """TablesConfig.targets()'s (paths, models needed) pairs as one list of paths."""
    return [p for paths, _models in targets for p in paths]


def test_paper_dataset_names_resolve_or_say_how_to_configure():
    t = TablesConfig(_config())
    assert t.data_name("synthetic") == "synthetic"
    with pytest.raises(TablesConfigError, match=r"k400 data root is not configured.*--configfile.*format: kinetics400"):
        t.data_name("k400")
    with pytest.raises(TablesConfigError, match="no dataset 'nope'"):
        t.data_name("nope")
    t = TablesConfig(_config(kinetics400={"format": "kinetics400", "root": "/data/k400"}))
    assert t.evals("k400") == ["w/eval/kinetics400/a/multiview.metrics.json", "w/eval/kinetics400/b/multiview.metrics.json"]
    assert t.run_models(["s"]) == {"s": ["a"]}
    assert t.views() == ("crops x clips per row; default 3x10 (lcr, pyslowfast spacing); kinetics400: 3x10 (lcr, "
                         "pyslowfast spacing) [x3d-m 3x10 (lcr, crop 256, pyslowfast spacing)]; sthv1: 1x1 (center, "
                         "pyslowfast spacing)")
    assert "CPU" in t.device()
    assert "r/table3_synthetic.csv" in _paths(t.targets()) and "r/table4_search_cost.csv" in _paths(t.targets())
    assert not any("table2" in x or "table1_" in x for x in _paths(t.targets()))


def test_table13_profiles_the_configured_builtins_at_their_paper_inputs():
    from e3d.tables.workflow import paper_input_flags

    config = _config()
    config["tables"].update(table13_paper_models=["e3d-s", "x3d-m"],
                            table13_paper_timing={"single_clip_warmup": 1, "single_clip_repeats": 3,
                                                  "batch_warmup": 0, "batch_repeats": 2})
    t = TablesConfig(config)
    paper = ["w/profile_paper_input/e3d-s/profile.json", "w/profile_paper_input/x3d-m/profile.json"]
    assert t.table13_inputs() == {"paper_profiles": paper, "profiles": ["w/profile/synthetic/a/profile.json",
                                                                        "w/profile/synthetic/b/profile.json"],
                                  "evals": t.evals("synthetic")}
    assert t.paper_inputs() == "e3d-s 13x160^2, x3d-m 16x224^2"
    assert t.paper_timing() == ("batch 1: median of 3 passes after 1 warm-up; batch 16 (after those): median of 2 "
                                "after 0 warm-up")
    assert paper_input_flags(config["tables"]) == ("--batch 16 --warmup 0 --repeats 2 --single-clip-warmup 1 "
                                                   "--single-clip-repeats 3")
    # nothing trained: Table 13 is still built, from the paper-input profiles alone
    config["models"], config["train"]["models"] = {}, []
    t = TablesConfig(config)
    assert t.table13_inputs() == {"paper_profiles": paper} and "r/table13_inference.csv" in _paths(t.targets())
    config["tables"]["table13_paper_models"] = []  # turns it off
    t = TablesConfig(config)
    assert t.table13_inputs() == {"paper_profiles": []} and "r/table13_inference.csv" not in _paths(t.targets())
    assert t.paper_inputs().startswith("none")
    config["tables"]["table13_paper_models"] = ["e3d-q"]
    with pytest.raises(TablesConfigError, match=r"table13_paper_models: no built-in architecture \['e3d-q'\]"):
        TablesConfig(config).table13_inputs()


def test_the_schema_fills_the_paper_input_defaults():
    from e3d.config import validate_config

    config = {}
    validate_config(config)
    assert config["tables"]["table13_paper_models"] == ["e3d-s", "e3d-m", "x3d-s", "x3d-m"]
    assert config["tables"]["table13_paper_timing"] == {"single_clip_warmup": 1, "single_clip_repeats": 3,
                                                        "batch_warmup": 0, "batch_repeats": 1}


def test_cli_reports_bad_input_in_one_line(tmp_path, cli_env):
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "e3d.cli", "tables", "table3", "--out", str(tmp_path / "t.csv"),
                        "--input", f"evals={tmp_path / 'missing.json'}"], env=cli_env, capture_output=True, text=True)
    assert r.returncode != 0 and "missing.json" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "e3d.cli", "tables", "table3", "--out", "x.csv", "--params", "[1]"],
                       env=cli_env, capture_output=True, text=True)
    assert r.returncode != 0 and "JSON object" in r.stderr


def profile_json(root, where, model, family, frames, crop, latency_ms, single_ms=None, gflops=4.7, params=3.4e6):
    """A fake `e3d profile --latency` artifact (with the single-clip timing when single_ms is given)."""
    path = root / where / model / "profile.json"
    path.parent.mkdir(parents=True)

    def timing(batch, ms):
        return {"batch": batch, "latency_ms_per_video": ms, "throughput_videos_per_s": 1000.0 / ms,
                "device": "cpu (Test CPU, 2 threads)", "precision": "fp32", "cpu_model": "Test CPU", "threads": 2}

    doc = {"arch": model, "family": family, "resolution": crop, "frames": frames, "fvcore_gflops_conv": gflops,
           "fvcore_params": params, "latency": timing(16, latency_ms)}
    if single_ms is not None:
        doc["latency_single_clip"] = timing(1, single_ms)
    write_json(path, doc, PROV)
    return str(path)


def _paper_input_profiles(root):
    """E3D-S/M and X3D-S/M at their paper inputs: E3D twice as fast as X3D at batch 16, 1.25x at batch 1."""
    return [profile_json(root, "paper", "e3d-s", "e3d", 13, 160, 50.0, 400.0, gflops=1.9),
            profile_json(root, "paper", "e3d-m", "e3d", 16, 224, 100.0, 800.0),
            profile_json(root, "paper", "x3d-s", "x3d", 13, 160, 100.0, 500.0, gflops=2.0),
            profile_json(root, "paper", "x3d-m", "x3d", 16, 224, 200.0, 1000.0)]


def test_table13_puts_paper_input_profiles_beside_the_papers_gpu_rows(tmp_path):
    # a trained model named like a paper model keeps its own row (measured at its training clip, with its top-1)
    trained = [profile_json(tmp_path, "profile/synthetic", "e3d-m", "e3d", 8, 32, 5.0),
               profile_json(tmp_path, "profile/synthetic", "tiny", "e3d", 8, 32, 2.0)]
    evals = [eval_metrics(tmp_path, "synthetic", "e3d-m", 0.4)]
    out = tmp_path / "t13.csv"
    build("table13", {"profiles": trained, "evals": evals, "paper_profiles": _paper_input_profiles(tmp_path)},
          {"device": "cpu", "paper_models": ["e3d-s", "e3d-m", "x3d-s", "x3d-m"]}, str(out))
    verify_table(out)
    df = pd.read_parquet(out.with_suffix(".parquet"))
    assert list(df.columns[:6]) == ["model", "measured", "input", "dataset", "device_name", "batch_size"]
    assert df.columns[-1] == "rows" and "family" not in df.columns
    assert not df.duplicated(["model", "measured"]).any()
    ours = df[df["measured"] == "paper input, untrained"].set_index("model")
    assert list(ours.index) == ["x3d-m", "e3d-m", "e3d-s", "x3d-s"]  # the paper's rows first, in its order
    m = ours.loc["e3d-m"]
    assert m["input"] == "16x224^2" and m["device_name"] == "cpu (Test CPU, 2 threads)" and m["batch_size"] == 16
    assert m["latency_ms"] == pytest.approx(100.0) and m["latency_single_clip_ms"] == pytest.approx(800.0)
    assert m["latency_ms_paper"] == pytest.approx(11.4) and m["latency_ms_diff"] == pytest.approx(88.6)
    assert m["throughput_clips_s_paper"] == pytest.approx(87.7) and m["rows"] == "both"
    assert (m["crop_px_paper"], m["frames_paper"]) == (224, 16) and pd.isna(m["top1"])
    assert m["top1_paper"] == pytest.approx(49.4)
    # ratios to X3D at the same input: ours (throughput 2x, single clip 0.8x) and the paper's (87.7 / 74.1)
    assert m["throughput_vs_x3d"] == pytest.approx(2.0) and m["single_clip_latency_vs_x3d"] == pytest.approx(0.8)
    assert m["throughput_vs_x3d_paper"] == pytest.approx(87.7 / 74.1)
    assert m["throughput_vs_x3d_diff"] == pytest.approx(2.0 - 87.7 / 74.1)
    s = ours.loc["e3d-s"]
    assert s["rows"] == "ours" and pd.isna(s["latency_ms_paper"]) and s["input"] == "13x160^2"
    assert s["throughput_vs_x3d"] == pytest.approx(2.0) and s["single_clip_latency_vs_x3d"] == pytest.approx(0.8)
    assert pd.isna(s["throughput_vs_x3d_paper"])  # the paper's Table 13 has no S models
    assert ours[["throughput_vs_x3d", "single_clip_latency_vs_x3d"]].loc[["x3d-s", "x3d-m"]].isna().all().all()
    assert ours.loc["x3d-m", "latency_ms_paper"] == pytest.approx(13.5)
    mine = df[df["measured"] == "trained, training clip"].set_index("model")
    assert list(mine.index) == ["e3d-m", "tiny"] and mine.loc["e3d-m", "top1"] == pytest.approx(40.0)
    assert mine.loc["e3d-m", "dataset"] == "synthetic" and mine.loc["e3d-m", "input"] == "8x32^2"
    assert mine.loc["e3d-m", "latency_ms_paper"] == pytest.approx(11.4) and pd.isna(mine.loc["e3d-m", "throughput_vs_x3d"])
    assert pd.isna(mine.loc["tiny", "latency_single_clip_ms"]) and mine.loc["tiny", "rows"] == "ours"
    paper_only = df[df["rows"] == "paper"]["model"].tolist()
    assert paper_only == ["tsm", "tanet", "movinet-a1"]  # once, not once per kind of row
    lines = out.read_text().splitlines()
    assert "latency_single_clip_ms [ms]" in lines[0] and "throughput_clips_s_paper [clips/s]" in lines[0]
    assert ',"cpu (Test CPU, 2 threads)",16,fp32,' in next(x for x in lines if x.startswith("e3d-m,"))


def test_table13_builds_from_paper_input_profiles_alone(tmp_path):
    out = tmp_path / "t13.csv"
    build("table13", {"paper_profiles": _paper_input_profiles(tmp_path)}, {"device": "cpu"}, str(out))
    df = pd.read_parquet(out.with_suffix(".parquet"))
    assert set(df["measured"].dropna()) == {"paper input, untrained"} and len(df) == 4 + 3
    with pytest.raises(BuildError, match="Table 13: no rows of ours"):
        build("table13", {}, {"device": "cpu"}, str(out))


def test_table13_reads_real_profile_artifacts(tmp_path):
    from e3d.arch.builtins import get_builtin
    from e3d.models.profile import profile_model

    profiles = []
    for model in ("e3d-m", "x3d-m"):
        doc = profile_model(get_builtin(model), resolution=32, frames=4, num_classes=10, latency=True, device="cpu",
                            batch=2, warmup=1, repeats=2)
        path = tmp_path / "profile" / "sthv1" / model / "profile.json"
        path.parent.mkdir(parents=True)
        write_json(path, doc, PROV)
        profiles.append(str(path))
    evals = [eval_metrics(tmp_path, "sthv1", "e3d-m", 0.4)]
    out = tmp_path / "t13.csv"
    build("table13", {"profiles": profiles, "evals": evals}, {"device": "cpu", "batch_size": 2}, str(out))
    df = pd.read_parquet(out.with_suffix(".parquet")).set_index("model")
    assert df.loc["e3d-m", "latency_ms"] > 0 and df.loc["x3d-m", "throughput_clips_s"] > 0
    assert df.loc["e3d-m", "device_name"].startswith("cpu") and df.loc["e3d-m", "batch_size"] == 2
    assert df.loc["e3d-m", "latency_ms_paper"] == pytest.approx(11.4) and df.loc["e3d-m", "top1"] == pytest.approx(40.0)
