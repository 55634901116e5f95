"""The default run's main comparison (issue 14): X3D contracted to a budget by its own expansion axes, the
Figure 3 sample spread over STEntr at about equal FLOPs, and which targets `snakemake all` and `snakemake study`
build."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from e3d.arch.baselines import round_width, x3d, x3d_expanded, x3d_scaled
from e3d.arch.cost import cost
from e3d.baselines.correlation import sample_architectures
from e3d.baselines.settings import SampleConfig
from e3d.config import validate_config
from e3d.score import registry
from e3d.targets import Targets, TargetsConfigError

REPO = Path(__file__).resolve().parents[1]


def test_round_width_is_pytorchvideos():
    # pytorchvideo's round_width (X3D's width rounding): multiples of 8, never below 90% of the scaled width
    assert [round_width(12, 2.0), round_width(24, 2.0), round_width(96, 2.0)] == [24, 48, 192]
    assert round_width(12, 0.5) == 8 and round_width(100, 1.0) == 104 and round_width(12, 1.4) == 16


def test_x3d_expanded_at_x3d_s_factors_is_x3d_s():
    spec, ref = x3d_expanded(2.0, 2.2, 160, 13, name="x3d-s"), x3d("s")
    assert spec.blocks == ref.blocks and spec.stem == ref.stem and spec.final == ref.final
    assert cost(spec).gflops == pytest.approx(cost(ref).gflops)


@pytest.mark.parametrize("expand", ["width", "depth", "both"])
def test_x3d_scaled_is_the_largest_x3d_within_the_budget(expand):
    budget = 0.018
    spec, info = x3d_scaled(budget, 32, 8, expand)
    c = cost(spec, 32, 8)
    assert c.gflops <= budget and info["gflops"] == pytest.approx(c.gflops)
    assert c.gflops > 0.6 * budget  # not needlessly small
    depths = [b.layers for b in spec.blocks]
    widths = [b.out for b in spec.blocks]
    if expand == "width":
        assert depths == [3, 5, 11, 7] and info["gamma_d"] == 2.2 and info["gamma_w"] < 2.0
    if expand == "depth":
        assert widths == [24, 48, 96, 192] and info["gamma_w"] == 2.0 and info["gamma_d"] < 2.2
        assert depths == [max(1, math.ceil(d * info["gamma_d"] - 1e-9)) for d in (1, 2, 5, 3)]
    if expand == "both":
        assert info["gamma_w"] / 2.0 == pytest.approx(info["gamma_d"] / 2.2)
    # a slightly larger factor would break the budget (the bisection keeps the largest that fits)
    for key in ("width", "depth"):
        if expand in (key, "both"):
            assert all(w % 8 == 0 for w in widths)
    with pytest.raises(ValueError, match="within the budget"):
        x3d_scaled(5.0, 160, 13, expand)
    with pytest.raises(ValueError, match="above the budget"):
        x3d_scaled(1e-6, 32, 8, expand)


def test_fig3_sample_spread_over_stentr_at_about_equal_flops():
    cfg = SampleConfig(n=6, gflops_min=0.016, gflops_max=0.018, resolution=32, frames=8, max_layers=29,
                       spread="stentr", pool=4, seed=3)
    specs = sample_architectures(cfg)
    assert [s.name for s in specs] == [f"fig3-{i:03d}" for i in range(6)]
    scores = [registry.score("stentr", s, 32, 8) for s in specs]
    assert scores == sorted(scores) and len(set(scores)) == 6
    for s in specs:
        c = cost(s, 32, 8)
        assert 0.016 <= c.gflops <= 0.018 and c.layers <= 29
    again = sample_architectures(cfg)
    assert [s.to_json() for s in again] == [s.to_json() for s in specs]  # seeded
    # the pool spans a wider range than a plain sample of the same size tends to
    plain = sample_architectures(SampleConfig(n=6, gflops_min=0.016, gflops_max=0.018, resolution=32, frames=8,
                                              max_layers=29, bins=1, seed=3), "random-{index}")
    assert [s.name for s in plain] == [f"random-{i}" for i in range(6)]


def _default() -> dict:
    return validate_config(yaml.safe_load((REPO / "config" / "config.yaml").read_text()))


def test_targets_split_all_and_study():
    cfg = _default()
    t = Targets(cfg)
    study_model = cfg["study"]["models"][0]
    t.add(["a"])
    t.add(["b"], models=[study_model])
    t.add(["c"], study="fig3")
    t.add(["d"], models=["not-a-study-model"], study="darts" if not cfg["study"]["darts"] else None)
    assert t.all == ["a", "d"] and t.study == ["b", "c"]
    assert t.main_models([study_model, "x"]) == ["x"]
    cfg["study"]["models"] = ["nope"]
    with pytest.raises(TargetsConfigError, match="study.models names \\['nope'\\]"):
        Targets(cfg)
    none = Targets({"models": {}})  # a hand-made config without the section: everything is in `all`
    none.add(["x"], study="fig3")
    assert none.all == ["x"]


def test_all_trains_the_main_comparison_and_study_the_rest(repo_root, cli_env, tmp_path):
    """`snakemake -n all` on the default config plans the main comparison (every entrant x seed) and none of the
    study-only models; `snakemake -n study` plans those too."""
    from smk import dry_run

    over = ["--config", f"work_dir={tmp_path}/work", f"results_dir={tmp_path}/results", f"logs_dir={tmp_path}/logs"]
    cfg = _default()
    main = dry_run(repo_root, cli_env, ["all", *over])
    trained = {j.wildcards.split("model=")[1].split(",")[0] for j in main if j.rule == "train"}
    seeds = cfg["baselines"]["table7"]["seeds"]
    assert len(trained) == 8 * len(seeds) and all(m.startswith("table7-") for m in trained)
    assert {f"table7-x3d-depth-seed{s}" for s in seeds} <= trained
    assert not any(j.rule in ("darts_search", "fig3_sample") for j in main)
    full = dry_run(repo_root, cli_env, ["study", *over])
    trained_study = {j.wildcards.split("model=")[1].split(",")[0] for j in full if j.rule == "train"}
    assert set(cfg["study"]["models"]) <= trained_study and trained < trained_study
    assert sum(m.startswith("fig3-") for m in trained_study) == cfg["baselines"]["fig3"]["n"]
    assert {"darts_search", "fig3_sample", "fig3_correlation", "table_sgs", "table_darts",
            "table7_training_free_long"} <= {j.rule for j in full}
    assert "table7_training_free_long" not in {j.rule for j in main}
    # the long schedule trains every entrant x seed again, under its own names and settings
    long = {m for m in trained_study if m.startswith("table7long-")}
    assert long == {m.replace("table7-", "table7long-", 1) for m in trained}


def _table7(top1: dict[str, tuple[float, float, float]]):
    import pandas as pd

    kinds = {"stentr": "searched", "zen": "searched", "random-0": "random", "x3d-depth": "x3d"}
    rows = [{"model": e, "entrant": e, "kind": kinds[e], "score": e if kinds[e] == "searched" else "",
             "gflops": 0.017, "params_m": 2.0, "stentr": 50.0, "top1": m, "top1_min": lo, "top1_max": hi,
             "top5": 90.0, "seeds": 2, "single_frame_top1": 10.5, "rows": "ours"} for e, (m, lo, hi) in top1.items()]
    rows.append({"model": "paper-only", "rows": "paper", "top1": 47.0})
    return pd.DataFrame(rows)


def test_front_page_says_what_was_measured_including_a_loss():
    from docutils.core import publish_parts

    from e3d.tables.summary import findings, summary_rst

    lost = _table7({"stentr": (60.0, 58.0, 62.0), "zen": (70.0, 69.0, 71.0), "random-0": (50.0, 40.0, 60.0),
                    "x3d-depth": (65.0, 64.0, 66.0)})
    text = findings(lost, chance=10.0)
    assert text[0].startswith("Ranking by mean top-1 over 2 training seed(s): Zen-score-searched 70.0%")
    assert "does not win: it ranks 3 of 4, 10.0 points below Zen-score-searched (more than the spread" in text[1]
    assert any("Random architectures of the space (1): mean top-1 50.0%" in t for t in text)
    assert "paper-only" not in " ".join(text)  # the paper's rows are not ours
    won = findings(_table7({"stentr": (72.0, 70.0, 74.0), "zen": (71.0, 69.0, 73.0), "random-0": (50.0, 45.0, 55.0),
                            "x3d-depth": (60.0, 59.0, 61.0)}), chance=10.0)
    assert "ranks first, 1.0 points above Zen-score-searched: within the spread between training seeds" in won[1]
    html = publish_parts(summary_rst(lost, "synthetic", 10.0), writer="html")["body"]
    assert "system-message" not in html and "<table" in html and "60.0 (58.0-62.0)" in html
    assert not any("plateau" in t for t in text)  # no training curves in the table: nothing said about them


def test_plateau_change_compares_the_last_fifths_mean_with_the_fifths_before():
    import numpy as np

    from e3d.tables.stage_rows import plateau_change

    # a flat curve with epoch-to-epoch noise: its last epoch is 3 points above the epoch a fifth before, yet it is flat
    flat = np.array([70.0, 71.5, 68.5, 70.0, 71.0, 69.0, 70.0, 68.5, 70.0, 71.5])
    assert flat[-1] - flat[-3] == pytest.approx(3.0)  # the last epoch against the one a fifth before: "moving"
    assert plateau_change(flat) == pytest.approx(1.5)  # (70 + 71.5) / 2 - (70 + 68.5) / 2: under 2, a plateau
    rising = np.arange(20, dtype=float)  # one point per epoch: each fifth (4 epochs) 4 points above the one before
    assert plateau_change(rising) == pytest.approx(4.0)
    assert math.isnan(plateau_change(np.array([50.0])))  # one epoch: no fifth before the last to compare with


def test_front_page_says_whether_the_models_stopped_improving_and_which_stayed_near_chance():
    from e3d.tables.summary import findings

    table = _table7({"stentr": (60.0, 58.0, 62.0), "zen": (25.0, 24.0, 26.0), "random-0": (50.0, 40.0, 60.0),
                     "x3d-depth": (65.0, 64.0, 66.0)})
    table["train_top1_last_fifth_pp"] = [1.5, 6.25, -2.0, 0.5, float("nan")]  # the paper's row has none
    text = " ".join(findings(table, chance=10.0))
    assert ("Not at a plateau: the training top-1 of 2 of 4 models still moved 2 points or more over the last fifth "
            "of the epochs (the last fifth's mean against the fifth's before: random-0 -2.0, Zen-score-searched +6.2)"
            ) in text
    assert "Under 3x chance (30.0%): Zen-score-searched 25.0%." in text
    table["train_top1_last_fifth_pp"] = [1.5, 1.0, -1.9, 0.5, float("nan")]
    flat = " ".join(findings(table, chance=None))
    assert "Every model reached a plateau" in flat and "chance (" not in flat
    # the last epoch's training top-1 sits beside the validation top-1 (the gap: over- or underfitting)
    from e3d.tables.summary import summary_rst

    table["train_top1"] = [81.25, 30.0, 55.0, 90.0, float("nan")]
    rst = summary_rst(table, "synthetic", 10.0)
    assert "training top-1 %, last epoch" in rst and "     - 81.2" in rst
