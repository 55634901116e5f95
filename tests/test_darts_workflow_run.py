"""One real snakemake run on a tiny config that produces both related-system tables: the DARTS-P3D search, the
searched network retrained by the ordinary train rule and evaluated by the ordinary evaluate rule, a spec-built
model with and without SGS, results/table_darts_synthetic.csv and results/table_sgs_synthetic.csv."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from smk import run_locally
from workflow_config import TINY_EVALUATE, TINY_TRAIN_SETTINGS, tiny_data, tiny_dirs, tiny_spec_ref, write_config


pytestmark = pytest.mark.slow




def tiny_config(tmp_path):
    spec = tiny_spec_ref(tmp_path)
    cfg = {
        **tiny_dirs(tmp_path),
        "data": tiny_data(threads=2, synth={"clips_per_class": 5}),
        "models": {
            "tiny": {"arch": spec, "act": "relu"},
            "tiny-sgs": {"arch": spec, "act": "relu", "sgs": {"stage": 0}},
            "darts-synthetic": {"arch": "darts:synthetic", "settings": {"frames": 4}},
        },
        "train": {"settings": {**TINY_TRAIN_SETTINGS, "checkpoint_every": 0}},
        "evaluate": {**TINY_EVALUATE, "clips": 2},
        "darts": {"datasets": ["synthetic"], "compare": ["tiny"],
                  "synthetic": {"channels": 2, "layers": 3, "steps": 2, "multiplier": 2, "segments": 2,
                                "frames_per_segment": 2, "size": 16, "batch_size": 2, "epochs": 1, "max_videos": 0,
                                "bn_batches": 1}},
        "sgs": {"models": ["tiny-sgs"]},
    }
    return write_config(tmp_path / "cfg.yaml", cfg)


def test_darts_and_sgs_tables_end_to_end(tmp_path, repo_root, cli_env):
    cfg = tiny_config(tmp_path)
    res = tmp_path / "res"
    targets = [res / "table_darts_synthetic.csv", res / "table_sgs_synthetic.csv"]
    out = run_locally(repo_root, cli_env, *targets, "--configfile", cfg)
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]

    darts = pd.read_parquet(res / "table_darts_synthetic.parquet")
    assert list(darts["model"]) == ["darts-synthetic", "tiny"]
    searched, tiny = darts.iloc[0], darts.iloc[1]
    assert searched["family"] == "DARTS-P3D" and searched["search_wall_h"] > 0 and searched["frames"] == 4
    assert tiny["search_method"] == "hand-designed" and pd.isna(tiny["search_wall_h"])
    assert (darts["gflops"] > 0).all() and (darts["params_m"] > 0).all()
    # the retrained network is the searched cell, rebuilt from the checkpoint's record
    record = json.loads((tmp_path / "work/train/synthetic/darts-synthetic/arch.json").read_text())["record"]
    genotype = json.loads((tmp_path / "work/darts/synthetic/genotype.json").read_text())
    assert record["kind"] == "darts" and record["genotype"] == genotype["genotype"]
    assert record["clip_sampler"] == {"kind": "segments", "segments": 2, "frames_per_segment": 2}

    sgs = pd.read_parquet(res / "table_sgs_synthetic.parquet")
    assert list(sgs["model"]) == ["tiny", "tiny-sgs"] and list(sgs["sgs"]) == [False, True]
    base, with_sgs = sgs.iloc[0], sgs.iloc[1]
    assert base["gflops_ratio"] == 1.0
    assert with_sgs["gflops_ratio"] == pytest.approx(with_sgs["gflops"] / base["gflops"])
    assert with_sgs["gflops_p05"] <= with_sgs["gflops"] <= with_sgs["gflops_p95"] <= with_sgs["gflops_full"]
    evald = json.loads((tmp_path / "work/eval/synthetic/tiny-sgs/multiview.metrics.json").read_text())
    assert evald["sgs"]["clips"] == 2 * evald["videos"]  # every view costed at its own B'
    assert evald["gflops_per_view"] == pytest.approx(evald["sgs"]["gflops_mean"])
    metrics = pd.read_parquet(tmp_path / "work/train/synthetic/tiny-sgs/metrics.parquet")
    hist = metrics[[f"sgs_active_bins_{b}" for b in range(1, 5)]].sum(axis=1)
    assert (hist == metrics["clips"]).all()  # B' of every training clip logged per epoch

    again = run_locally(repo_root, cli_env, "-n", *targets, "--configfile", cfg)
    assert "Nothing to be done" in again.stdout + again.stderr
