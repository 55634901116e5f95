import json
import os
import signal
import subprocess
import sys
import time

import pytest

from e3d.arch import cost
from e3d.arch.spec import spec_from_dict
from e3d.artifacts import read_json, read_parquet
from e3d.search.engine import SearchConfig, SearchError, run_search

SMALL = dict(max_layers=83, resolution=112, frames=8, population=64, seed=3, budget_gflops=0.5, lanes=4,
             sync_every=500)


def test_budgets_are_respected_and_the_search_improves():
    cfg = SearchConfig(iterations=12000, budget_params=2_500_000, **SMALL)
    r = run_search(cfg, workers=1, progress=False)
    assert r.best[0] > r.start["score"]
    for score, g, macs, params in r.population:
        spec = r.space.spec_from_genome(g)
        c = cost.cost(spec, 112, 8)
        assert c.macs == macs <= 0.5e9 and c.params == params <= 2_500_000 and c.layers <= 83
    scores = [e[0] for e in r.population]
    assert scores == sorted(scores, reverse=True)
    assert len({e[1] for e in r.population}) == len(r.population)  # deduplicated by structure


def test_same_seed_same_result_whatever_the_worker_count():
    cfg = SearchConfig(iterations=8000, **SMALL)
    one = run_search(cfg, workers=1, progress=False)
    two = run_search(cfg, workers=2, progress=False)
    assert one.population == two.population
    other = run_search(SearchConfig(iterations=8000, **{**SMALL, "seed": 4}), workers=1, progress=False)
    assert other.population != one.population


def test_impossible_budget_is_a_clear_error():
    with pytest.raises(SearchError, match="impossible budget.*smallest network"):
        run_search(SearchConfig(iterations=10, **{**SMALL, "budget_gflops": 0.001}), progress=False)
    with pytest.raises(SearchError, match="budget"):
        SearchConfig(iterations=10, **{**SMALL, "budget_gflops": None})
    with pytest.raises(Exception, match="max_layers"):
        run_search(SearchConfig(iterations=10, **{**SMALL, "max_layers": 12}), progress=False)


def test_tight_budget_starts_from_the_smallest_network():
    r = run_search(SearchConfig(iterations=2000, **{**SMALL, "budget_gflops": 0.05}), progress=False)
    assert r.start["origin"] == "smallest"
    assert r.best[2] <= 0.05e9


def test_state_from_other_settings_is_refused(tmp_path):
    state = tmp_path / "state.json"
    run_search(SearchConfig(iterations=2000, **SMALL), state, progress=False)
    with pytest.raises(SearchError, match="different settings"):
        run_search(SearchConfig(iterations=2000, **{**SMALL, "seed": 9}), state, progress=False)
    state.write_text("{not json")
    with pytest.raises(SearchError, match="unreadable search state"):
        run_search(SearchConfig(iterations=2000, **SMALL), state, progress=False)


def _search_cmd(out, *extra):
    return [sys.executable, "-m", "e3d.cli", "search", "--budget-gflops", "0.5", "--max-layers", "83",
            "--resolution", "112", "--frames", "8", "--iterations", "60000", "--population", "64", "--seed", "5",
            "--lanes", "4", "--sync-every", "250", "--checkpoint-seconds", "0", "--workers", "1", "--topk", "5",
            "--out", str(out), *extra]


def test_killed_search_resumes_to_the_uninterrupted_result(tmp_path, cli_env):
    ref = subprocess.run(_search_cmd(tmp_path / "ref"), capture_output=True, text=True, env=cli_env, timeout=300)
    assert ref.returncode == 0, ref.stderr
    state = tmp_path / ".state" / "run" / "search_state.json"
    proc = subprocess.Popen(_search_cmd(tmp_path / "run"), env=cli_env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if state.exists() and 0 < json.loads(state.read_text())["done"] < 30000:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "search finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = json.loads(state.read_text())["done"]
    assert 0 < done < 60000
    assert not (tmp_path / "run" / "arch.json").exists()
    resumed = subprocess.run(_search_cmd(tmp_path / "run"), capture_output=True, text=True, env=cli_env,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["resumed_from"] == done
    a = read_json(tmp_path / "ref" / "arch.json", schema="e3d.search.arch")
    b = read_json(tmp_path / "run" / "arch.json", schema="e3d.search.arch")
    assert a["spec"]["blocks"] == b["spec"]["blocks"] and a["score"] == b["score"]
    ta = read_json(tmp_path / "ref" / "topk.json", schema="e3d.search.topk")["entries"]
    tb = read_json(tmp_path / "run" / "topk.json", schema="e3d.search.topk")["entries"]
    assert [e["score"] for e in ta] == [e["score"] for e in tb] and len(ta) == 5
    spec = spec_from_dict(b["spec"])
    assert cost.conv_macs(spec, 112, 8) == b["macs"] <= 0.5e9
    trace = read_parquet(tmp_path / "run" / "trace.parquet", schema="e3d.search.trace")
    assert {"iteration", "best_score", "median_score", "best_gflops", "acceptance_rate", "wall_time_s"} <= \
        set(trace.columns)
    assert trace["iteration"].iloc[-1] == 60000 and trace["best_score"].is_monotonic_increasing
    assert summary["best_score"] == pytest.approx(b["score"]) and summary["iterations"] == 60000


def test_cli_impossible_budget_is_one_line(tmp_path, cli_env):
    p = subprocess.run(_search_cmd(tmp_path / "x")[:-2] + ["--budget-gflops", "0.0001", "--out", str(tmp_path / "x")],
                       capture_output=True, text=True, env=cli_env, timeout=120)
    assert p.returncode == 2 and "impossible budget" in p.stderr and "Traceback" not in p.stderr
