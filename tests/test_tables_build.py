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


def test_paper_dataset_names_resolve_or_say_how_to_configure():
    t = TablesConfig(_config())
    assert t.data_name("synthetic") == "synthetic"
    with pytest.raises(TablesConfigError, match=r"k400 data root is not configured.*--configfile.*format: kinetics400"):
        t.data_name("k400")
    with pytest.raises(TablesConfigError, match="no dataset 'nope'"):
        t.data_name("nope")
    t = TablesConfig(_config(kinetics400={"format": "kinetics400", "root": "/data/k400"}))
    assert t.evals("k400") == ["w/eval/kinetics400/a/multiview.metrics.json", "w/eval/kinetics400/b/multiview.metrics.json"]
    assert t.run_models(["s"]) == {"s": "a"}
    assert t.views() == ("crops x clips per row; default 3x10 (lcr, pyslowfast spacing); kinetics400: 3x10 (lcr, "
                         "pyslowfast spacing) [x3d-m 3x10 (lcr, crop 256, pyslowfast spacing)]; sthv1: 1x1 (center, "
                         "pyslowfast spacing)")
    assert "CPU" in t.device()
    assert "r/table3_synthetic.csv" in t.targets() and "r/table4_search_cost.csv" in t.targets()
    assert not any("table2" in x or "table1_" in x for x in t.targets())


def test_cli_reports_bad_input_in_one_line(tmp_path, cli_env):
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "e3d.cli", "tables", "table3", "--out", str(tmp_path / "t.csv"),
                        "--input", f"evals={tmp_path / 'missing.json'}"], env=cli_env, capture_output=True, text=True)
    assert r.returncode != 0 and "missing.json" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "e3d.cli", "tables", "table3", "--out", "x.csv", "--params", "[1]"],
                       env=cli_env, capture_output=True, text=True)
    assert r.returncode != 0 and "JSON object" in r.stderr


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
