"""Figure 4 on tiny repeats, Figure 3 sampling/scoring/statistics, and the `e3d baselines` command."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from e3d.baselines.correlation import (SampleConfig, StudyError, correlate, join_accuracy, sample_architectures,
                                       score_architectures)
from e3d.baselines.fig4 import ANALYTIC, FORWARD, run_fig4, write_fig4
from e3d.baselines.study_io import read_accuracy


def test_fig4_analytic_has_zero_spread_forward_varies(tmp_path):
    res = run_fig4(channels=(8, 16), repeats=6, seed=0, progress=False)
    s = res.summary.set_index(["channels", "method"])
    for c in (8, 16):
        assert s.loc[(c, ANALYTIC), "std"] == 0
        assert s.loc[(c, FORWARD), "std"] > 0
        # the forward values scatter around the analytic value (no padding: Eq. 5 exact in expectation)
        assert abs(s.loc[(c, FORWARD), "mean"] - s.loc[(c, ANALYTIC), "mean"]) < 0.3
    assert set(res.timing["method"]) == {ANALYTIC, FORWARD}
    assert (res.timing["seconds"] > 0).all()
    again = run_fig4(channels=(8, 16), repeats=6, seed=0, progress=False)
    pd.testing.assert_frame_equal(res.spread, again.spread)
    paths = write_fig4(res, tmp_path, {"repeats": 6})
    assert paths["png"].read_bytes()[:4] == b"\x89PNG"
    behind = pd.read_csv(paths["csv"])
    assert set(behind["panel"]) == {"spread", "time_s"}
    assert len(pd.read_csv(paths["summary"])) == 4


def test_fig3_sampling_is_seeded_distinct_and_within_bounds():
    cfg = SampleConfig(n=12, gflops_min=0.3, gflops_max=3.0, seed=5)
    a = sample_architectures(cfg)
    b = sample_architectures(cfg)
    assert [s.to_json() for s in a] == [s.to_json() for s in b]
    assert len({s.to_json(indent=None).replace(s.name, "") for s in a}) == 12
    other = sample_architectures(SampleConfig(n=12, gflops_min=0.3, gflops_max=3.0, seed=6))
    assert [s.to_json() for s in a] != [s.to_json() for s in other]
    scored = score_architectures(a)
    assert scored["gflops"].between(0.3, 3.0).all()
    assert np.isfinite(scored[["stentr", "homoentr", "gflops", "params_m"]].to_numpy()).all()
    assert scored["gflops"].max() / scored["gflops"].min() > 2  # spread over the range, not one cluster


def test_fig3_sampling_impossible_bounds_fail_clearly():
    with pytest.raises(StudyError, match="distinct architectures"):
        sample_architectures(SampleConfig(n=3, gflops_min=200.0, gflops_max=300.0, max_tries=50))
    with pytest.raises(StudyError, match="gflops_min"):
        SampleConfig(gflops_min=5, gflops_max=1)


def test_correlations_on_constructed_data_with_known_values():
    n = 10
    x = np.arange(n, dtype=float)
    data = pd.DataFrame({"model": [f"m{i}" for i in range(n)], "top1": x, "up": x * 3 + 1, "down": -x,
                         "swap": x.copy()})
    data.loc[[0, 1], "swap"] = [1.0, 0.0]  # one discordant pair of 45: tau = 1 - 2/45; rho = 1 - 6*2/(n(n^2-1))
    corr = correlate(data, "top1", ["up", "down", "swap"], n_boot=200, seed=0).set_index(["method", "metric"])
    assert corr.loc[("kendall", "up"), "coefficient"] == pytest.approx(1.0)
    assert corr.loc[("spearman", "down"), "coefficient"] == pytest.approx(-1.0)
    assert corr.loc[("kendall", "swap"), "coefficient"] == pytest.approx(1 - 2 / 45)
    assert corr.loc[("spearman", "swap"), "coefficient"] == pytest.approx(1 - 12 / (n * (n * n - 1)))
    row = corr.loc[("kendall", "swap")]
    assert row["ci_low"] <= row["coefficient"] <= row["ci_high"]
    again = correlate(data, "top1", ["swap"], n_boot=200, seed=0)
    assert again.equals(correlate(data, "top1", ["swap"], n_boot=200, seed=0))


def test_join_accuracy_requires_every_model(tmp_path):
    scored = pd.DataFrame({"model": ["a", "b"], "stentr": [1.0, 2.0]})
    with pytest.raises(StudyError, match=r"no accuracy for model\(s\) \['b'\]"):
        join_accuracy(scored, pd.DataFrame({"model": ["a"], "top1": [0.5]}))
    bad = tmp_path / "m.json"
    bad.write_text("{}")
    with pytest.raises(StudyError, match="no numeric 'top1'"):
        read_accuracy([f"a={bad}"])
    with pytest.raises(StudyError, match="MODEL=PATH"):
        read_accuracy(["nopath"])


def test_cli_fig3_sample_then_correlate(tmp_path, cli_env):
    out = tmp_path / "fig3"
    def run(*a):
        return subprocess.run([sys.executable, "-m", "e3d.cli", "baselines", *a], env=cli_env,
                              capture_output=True, text=True, timeout=120)

    r = run("fig3-sample", "--out", str(out), "--n", "6", "--gflops-min", "0.3", "--gflops-max", "3", "--seed", "1")
    assert r.returncode == 0, r.stderr
    models = pd.read_parquet(out / "models.parquet")
    assert len(models) == 6 and len(list((out / "specs").glob("*.json"))) == 6
    # accuracies that follow STEntr exactly: its Kendall tau must be 1
    pairs = []
    for name, s in zip(models["model"], models["stentr"]):
        p = tmp_path / f"{name}.metrics.json"
        p.write_text(json.dumps({"top1": float(s) / 1000}))
        pairs.append(f"{name}={p}")
    r = run("fig3-correlate", "--models", str(out / "models.parquet"), "--out", str(out), "--n-boot", "50",
            "--accuracy", *pairs)
    assert r.returncode == 0, r.stderr
    corr = pd.read_csv(out / "fig3_correlations.csv").set_index(["method", "metric"])
    assert corr.loc[("kendall", "stentr"), "coefficient"] == pytest.approx(1.0)
    for f in ("fig3_kendall.png", "fig3_spearman.png", "fig3_scatter.png"):
        assert (out / f).stat().st_size > 0
    r = run("fig3-correlate", "--models", str(out / "models.parquet"), "--out", str(out), "--accuracy", pairs[0])
    assert r.returncode == 2 and "no accuracy for model" in r.stderr


def test_cli_fig4_tiny(tmp_path, cli_env):
    r = subprocess.run([sys.executable, "-m", "e3d.cli", "baselines", "fig4", "--out", str(tmp_path),
                        "--repeats", "3", "--channels", "8,16"], env=cli_env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "fig4_forward_vs_analytic.png").exists()
    r = subprocess.run([sys.executable, "-m", "e3d.cli", "baselines", "fig4", "--out", str(tmp_path),
                        "--channels", "x"], env=cli_env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "--channels" in r.stderr
