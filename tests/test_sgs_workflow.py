"""SGS in the workflow: the sgs: model source (resolver, builder), the B' statistics the training loop and the
evaluation collect through model_source.collect_metrics, the sgs section helpers and the SGS table builder."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from e3d.artifacts import Provenance, write_json
from e3d.sgs import clip_cost, find_sgs
from e3d.sgs.model_source import sgs_ref
from e3d.train import model_source as ms

TINY_SPEC = {
    "name": "tiny", "family": "e3d", "resolution": 32, "frames": 4,
    "stem": {"out": 8, "kernel": [1, 3, 3], "stride": 2},
    "blocks": [{"out": 8, "btn": 16, "kernel": [3, 3, 3], "stride": 2, "layers": 1},
               {"out": 16, "btn": 24, "kernel": [1, 3, 3], "stride": 2, "layers": 1}],
    "final": {"out": 16},
    "head": {"hidden": 16, "dropout": 0.0},
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def spec_file(tmp_path):
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(TINY_SPEC))
    return path


def test_resolver_keeps_the_base_record_and_the_builder_inserts_one_layer(spec_file):
    opts = ms.ModelOptions(frames=6, resolution=24, act="relu")
    record = ms.resolve(sgs_ref(f"spec:{spec_file}", {"stage": 1, "embed_dim": 4}), opts)
    base = ms.resolve(f"spec:{spec_file}", opts)
    assert record["kind"] == "sgs" and record["base"]["spec"] == base["spec"]
    assert record["base"]["build_options"] == {"act": "relu"}
    assert record["sgs"]["stage"] == 1 and record["sgs"]["embed_dim"] == 4 and record["sgs"]["num_bins"] is None
    assert record["source"].endswith(" + SGS")
    model = ms.build(json.loads(json.dumps(record)), 3)
    layer = find_sgs(model)
    assert layer.num_bins == 6 and layer.channels == 16  # B = T; after block 1 (16 channels)
    assert model(torch.randn(2, 3, 6, 24, 24)).shape == (2, 3)


def test_resolver_errors_name_the_problem(spec_file, tmp_path):
    with pytest.raises(ms.ArchRefError, match="stage: 2 is not in -1..1"):
        ms.resolve(sgs_ref(f"spec:{spec_file}", {"stage": 2}), ms.ModelOptions())
    with pytest.raises(ms.ArchRefError, match="unknown key.*bins"):
        ms.resolve(sgs_ref(f"spec:{spec_file}", {"bins": 4}), ms.ModelOptions())
    with pytest.raises(ms.ArchRefError, match="not valid JSON"):
        ms.resolve("sgs:{nope", ms.ModelOptions())
    with pytest.raises(ms.ArchRefError, match="a 'darts' model"):
        ms.RESOLVERS["darts"] = lambda v, o: {"kind": "darts"}  # any non-spec base
        try:
            ms.resolve(sgs_ref("darts:x", {}), ms.ModelOptions())
        finally:
            from e3d.darts.model_source import resolve_darts

            ms.RESOLVERS["darts"] = resolve_darts


def _model(spec_file, **sgs):
    # after the stem (1x3x3 kernels): a static clip's frames stay identical, so its B' is 1
    record = ms.resolve(sgs_ref(f"spec:{spec_file}", {"stage": -1, **sgs}), ms.ModelOptions(frames=6, resolution=16))
    torch.manual_seed(0)
    return ms.build(record, 3)


def test_training_histogram_counts_every_clip_once_per_epoch(spec_file):
    model = _model(spec_file)
    model.train()
    ms.reset_metrics(model)
    x = torch.randn(5, 3, 6, 16, 16)
    x[0] = x[0, :, :1]  # identical frames: B' = 1
    model(x)
    model(torch.randn(3, 3, 6, 16, 16))
    with find_sgs(model).forced_width(2):  # cost measurement is not a clip
        model(torch.randn(2, 3, 6, 16, 16))
    row = ms.collect_metrics(model, input_shape=(3, 6, 16, 16), training=True)
    hist = [row[f"sgs_active_bins_{b}"] for b in range(1, 7)]
    assert sum(hist) == 8 and hist[0] >= 1
    assert row["sgs_active_bins_mean"] == pytest.approx(sum(b * n for b, n in zip(range(1, 7), hist)) / 8)
    assert ms.collect_metrics(model, input_shape=(3, 6, 16, 16), training=True)["sgs_active_bins_1"] == 0  # reset
    plain = ms.build(ms.resolve(f"spec:{spec_file}", ms.ModelOptions(frames=6, resolution=16)), 3)
    assert ms.collect_metrics(plain, input_shape=(3, 6, 16, 16), training=True) == {}


class MemorySource:
    def __init__(self, n: int = 6, frames: int = 12):
        rng = np.random.default_rng(0)
        self.clips = {f"v{i}": rng.integers(0, 255, (frames, 20, 20, 3), dtype=np.uint8) for i in range(n)}
        self.clips["v0"][:] = self.clips["v0"][:1]  # a static video
        self.videos = pd.DataFrame({"video_id": list(self.clips), "label": [i % 3 for i in range(n)],
                                    "split": ["val"] * n, "num_frames": [frames] * n})
        self.num_classes = 3

    def read_clip(self, video_id, indices):
        return self.clips[video_id][np.asarray(indices)]


def test_evaluation_costs_every_view_at_its_own_active_bins(spec_file):
    from e3d.evaluate.run import evaluate, gflops_per_view
    from e3d.evaluate.views import ViewPlan

    model = _model(spec_file).eval()
    plan = ViewPlan(mode="lcr", clips=2, crop=16, frames=6)
    gflops_per_view(model, 6, 16)  # a forward on zeros before the pass must not count
    result = evaluate(model, MemorySource(), plan, batch_size=4)
    s = result.extras["sgs"]
    assert s["clips"] == 6 * 2 * 3 and sum(s["active_bins_histogram"].values()) == 36
    assert s["active_bins_histogram"]["1"] >= 6  # the static video's six views
    # the same numbers from the counts alone: each view costed by fvcore at its B'
    counts = np.repeat([int(k) for k in s["active_bins_histogram"]], list(s["active_bins_histogram"].values()))
    expected = clip_cost(model, counts, (3, 6, 16, 16))
    assert result.extras["gflops_per_view"] == pytest.approx(expected.mean) == pytest.approx(s["gflops_mean"])
    assert s["gflops_min"] < s["gflops_full"]  # B' = 1 is cheaper than B' = B
    per = {int(k): v for k, v in s["gflops_per_active_bins"].items()}
    assert all(per[a] < per[b] for a, b in zip(sorted(per), sorted(per)[1:]))


def cfg_with(**sgs):
    from e3d.config import validate_config

    return validate_config({"models": {
        "e3d": {"arch": "builtin:e3d-initial", "act": "relu"},
        "e3d-other": {"arch": "builtin:e3d-initial", "act": "swish"},
        "e3d-sgs": {"arch": "builtin:e3d-initial", "act": "relu", "sgs": {"stage": 1}},
        "e3d-sgs2": {"arch": "builtin:e3d-initial", "act": "swish", "sgs": {}},
        "x3d-sgs": {"arch": "builtin:x3d-s", "sgs": {}},
    }, "sgs": sgs})


def test_sgs_section_pairs_models_with_their_bases():
    from e3d.sgs.workflow import SGSConfig, SGSWorkflowError
    from e3d.train.workflow import TrainConfig

    cfg = cfg_with(models=["e3d-sgs", "e3d-sgs2"])
    s = SGSConfig(cfg)
    assert s.pairs() == {"e3d-sgs": "e3d", "e3d-sgs2": "e3d-other"}  # same arch, se_ratio, act, settings
    assert s.targets() == ["results/table_sgs_synthetic.csv"]
    assert s.evals("synthetic") == {
        "base_evals": ["work/eval/synthetic/e3d/multiview.metrics.json", "work/eval/synthetic/e3d-other/multiview.metrics.json"],
        "sgs_evals": ["work/eval/synthetic/e3d-sgs/multiview.metrics.json", "work/eval/synthetic/e3d-sgs2/multiview.metrics.json"]}
    assert SGSConfig(cfg_with(models=["e3d-sgs2"], bases={"e3d-sgs2": "e3d"})).pairs() == {"e3d-sgs2": "e3d"}
    with pytest.raises(SGSWorkflowError, match="'x3d-sgs' has no base.*builtin:x3d-s"):
        SGSConfig(cfg_with()).pairs()  # every trained SGS model by default
    with pytest.raises(SGSWorkflowError, match="sgs.models names 'e3d'"):
        SGSConfig(cfg_with(models=["e3d"]))
    with pytest.raises(SGSWorkflowError, match="sgs.bases.e3d-sgs: 'x3d-sgs'"):
        SGSConfig(cfg_with(bases={"e3d-sgs": "x3d-sgs"}))
    t = TrainConfig(cfg)
    path, ref = t.arch_source("e3d-sgs")
    assert path is None and json.loads(ref.partition(":")[2]) == {"base": "builtin:e3d-initial", "sgs": {"stage": 1}}
    assert not t.profiled("e3d-sgs") and t.profiled("e3d")


def _eval_doc(path, *, gflops, top1, sgs=None):
    doc = {"top1": top1, "top5": 0.9, "gflops_per_view": gflops, "views": {"crops": 1, "clips": 1, "name": "1-Center"},
           "frames": 8, "crop": 32, "params": 1e6, "gflops_total_per_video": gflops, "split": "val", "videos": 4}
    if sgs is not None:
        doc["sgs"] = sgs
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, doc, Provenance.make("eval_metrics", 1, {}, ()))
    return str(path)


def test_sgs_table_puts_each_base_beside_its_sgs_models(tmp_path):
    from e3d.tables.build import build
    from e3d.tables.systems import SystemsTableError

    sgs = {"gflops_p05": 0.3, "gflops_p95": 0.7, "gflops_full": 1.05, "active_bins_mean": 4.5,
           "active_bins_histogram": {"1": 0, "2": 1, "3": 0, "4": 1, "5": 1, "6": 1, "7": 0, "8": 0}}
    ev = tmp_path / "eval" / "synthetic"
    inputs = {"base_evals": [_eval_doc(ev / "e3d/multiview.metrics.json", gflops=1.0, top1=0.5)],
              "sgs_evals": [_eval_doc(ev / "e3d-sgs/multiview.metrics.json", gflops=0.55, top1=0.52, sgs=sgs)]}
    out = tmp_path / "table_sgs_synthetic.csv"
    build("table_sgs", inputs, {"dataset": "synthetic", "pairs": {"e3d-sgs": "e3d"}}, str(out))
    t = pd.read_parquet(out.with_suffix(".parquet"))
    assert list(t["model"]) == ["e3d", "e3d-sgs"] and list(t["base"]) == ["e3d", "e3d"]
    assert list(t["gflops_ratio"]) == pytest.approx([1.0, 0.55])
    assert t.loc[1, "top1"] == pytest.approx(52.0) and t.loc[1, "active_bins_mean"] == 4.5
    assert t.loc[1, "active_bins_histogram"] == "1:0 2:1 3:0 4:1 5:1 6:1 7:0 8:0"
    assert np.isnan(t.loc[0, "gflops_p05"]) and t.loc[1, "gflops_full"] == 1.05
    assert "Similarity Guided Sampling on synthetic" in json.loads(out.with_suffix(".meta.json").read_text())["caption"]
    no_sgs = {**inputs, "sgs_evals": [_eval_doc(ev / "e3d-sgs/multiview.metrics.json", gflops=0.5, top1=0.5)]}
    with pytest.raises(SystemsTableError, match="no SGS measurements"):
        build("table_sgs", no_sgs, {"pairs": {"e3d-sgs": "e3d"}}, str(out))
    with pytest.raises(SystemsTableError, match="base model 'x3d'"):
        build("table_sgs", inputs, {"pairs": {"e3d-sgs": "x3d"}}, str(out))
