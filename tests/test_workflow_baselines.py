"""The baselines rules under the real snakemake on the tiny workflow: Figure 4, Figure 3 (sampled models trained and
evaluated by the ordinary rules) and Table 7 (one search per training-free score, each model trained) are built,
land in the report with their captions, and a second run has nothing to do."""

from __future__ import annotations

import base64
import collections
from pathlib import Path

import pandas as pd
import pytest

from smk import dry_run, snakemake
from workflow_config import tiny_workflow_config, write_config

pytestmark = pytest.mark.slow

TARGETS = ["fig4_forward_vs_analytic.png", "fig3_correlation_synthetic.png", "table7_training_free_synthetic.csv"]


def test_baselines_targets_build_into_the_report(tmp_path, repo_root, cli_env):
    cfg = write_config(tmp_path / "cfg.yaml", tiny_workflow_config(tmp_path, baselines={"table7": {"random": 3}}))
    paths = [str(tmp_path / "res" / t) for t in TARGETS]
    base = ["--cores", "2", "--nolock", "--configfile", str(cfg)]

    jobs = dry_run(repo_root, cli_env, base[2:] + ["--", *paths])
    counts = collections.Counter(j.rule for j in jobs)
    # 3 sampled + 3 searched + 1 contracted X3D + 3 random models, each trained and evaluated once (multiview
    # only); one search per score
    assert counts["train"] == 10 and counts["evaluate"] == 10 and counts["search"] == 3
    assert counts["table7_x3d"] == counts["table7_random"] == 1
    assert {j.wildcards for j in jobs if j.rule == "search"} == {"run=table7_zen", "run=table7_madet",
                                                                 "run=table7_stentr"}
    assert counts["fig3_sample"] == counts["fig3_correlation"] == counts["fig4_forward_vs_analytic"] == 1
    assert "profile" not in counts

    proc = snakemake(base + ["--", *paths], repo_root, cli_env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    res = tmp_path / "res"

    fig4 = pd.read_csv(res / "fig4_forward_vs_analytic.csv")
    spread = fig4[fig4["panel"] == "spread"]
    assert set(spread["channels"]) == {4, 8} and len(spread) == 2 * 2 * 5
    assert spread[spread["method"] == "analytic"].groupby("channels")["value"].nunique().eq(1).all()

    fig3 = pd.read_csv(res / "fig3_correlation_synthetic.csv")
    assert set(fig3["method"]) == {"kendall", "spearman"}
    # the default config's six predictors (the tiny config inherits its scores)
    assert set(fig3["metric"]) == {"stentr", "homoentr", "zen", "madet", "gflops", "params_m"}
    assert (fig3["n"] == 3).all() and (fig3["n_boot"] == 20).all()

    t7 = pd.read_parquet(res / "table7_training_free_synthetic.parquet").set_index("model")
    for model, score in (("zen-score", "zen"), ("mae-det-score", "madet"), ("e3d-s", "stentr")):
        row = t7.loc[model]
        assert row["score"] == score and row["rows"] == "both"
        assert 0 < row["gflops"] <= 1.9 and row["design_cost_h"] > 0 and row["search_devices"] == "CPU"
        assert row["search_device_name"] == "test CPU" and 0 <= row["top1"] <= 100
        assert row["entrant"] == score and row["seeds"] == 1 and row["kind"] == "searched"
    assert t7.loc["zen-score", "design_cost_h_paper"] == 26
    x3d = t7.loc["x3d-depth-contracted"]
    assert x3d["kind"] == "x3d" and x3d["rows"] == "ours" and 0 < x3d["gflops"] <= 1.9
    assert t7.loc["random-0", "kind"] == "random"

    # the study's models went through the ordinary stages
    for m in ("fig3-000", "fig3-002", "table7-zen-seed0", "table7-x3d-depth-seed0", "table7-random-0-seed0"):
        assert (tmp_path / "work" / "eval" / "synthetic" / m / "multiview.metrics.json").exists()

    report = tmp_path / "report.html"
    proc = snakemake(base + ["--report", str(report), "--", *paths], repo_root, cli_env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    from report_browser import report_data

    results, _ = report_data(report)
    shown = {Path(p).name: e for p, e in results.items()}
    for name in TARGETS + ["table7_training_free_synthetic.html"]:
        assert name in shown, (name, sorted(shown))
        assert "{{" not in shown[name]["caption"] and shown[name]["caption"].strip()
    assert "test CPU" in shown["table7_training_free_synthetic.csv"]["caption"]
    assert "3 randomly sampled" in shown["fig3_correlation_synthetic.png"]["caption"]
    assert "5 times" in shown["fig4_forward_vs_analytic.png"]["caption"]
    png = base64.b64decode(shown["fig3_correlation_synthetic.png"]["data_uri"].split("base64,", 1)[1])
    assert png == (res / "fig3_correlation_synthetic.png").read_bytes()

    assert dry_run(repo_root, cli_env, base[2:] + ["--", *paths]) == []  # nothing left to do
