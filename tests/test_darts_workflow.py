"""DARTS-P3D in the workflow: the darts: model source (resolver, builder, TSN segment clip sampler through the
training and evaluation clips), the darts section helpers, and the DARTS table builder."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from e3d.artifacts import Provenance, write_json
from e3d.darts.genotype import Genotype, GenotypeArtifact, write_genotype
from e3d.darts.space import NetworkConfig
from e3d.train import model_source as ms

GENOTYPE = Genotype(normal=(("p3d_conv_3", 0), ("skip_connect", 1), ("max_pool_1x3x3", 0), ("p3d_conv_5", 2)),
                    normal_concat=(2, 3),
                    reduce=(("avg_pool_3x3x3", 0), ("p3d_conv_3", 1), ("dil_p3d_conv_3", 2), ("skip_connect", 1)),
                    reduce_concat=(2, 3))
NETWORK = NetworkConfig(channels=2, layers=3, steps=2, multiplier=2, segments=2, frames_per_segment=2)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def genotype_file(tmp_path):
    path = tmp_path / "darts" / "synthetic" / "genotype.json"
    search = {"order": "first", "epochs": 2, "seconds": 12.5, "device": "cpu", "val_acc": 0.5, "alphas": {}}
    write_genotype(path, GenotypeArtifact(GENOTYPE, NETWORK, 3, search), {}, ("darts",))
    return path


def test_resolver_and_builder_rebuild_the_searched_network_from_the_record(genotype_file):
    record = ms.resolve(f"darts:{genotype_file}", ms.ModelOptions(frames=4, resolution=16))
    assert record["kind"] == "darts" and record["genotype"] == GENOTYPE.to_dict()
    assert record["clip_sampler"] == {"kind": "segments", "segments": 2, "frames_per_segment": 2}
    assert record["search"]["seconds"] == 12.5 and "alphas" not in record["search"]
    record = json.loads(json.dumps(record))  # as stored in a checkpoint
    torch.manual_seed(0)
    model = ms.build(record, 5)
    assert model.genotype == GENOTYPE and model.config == NETWORK
    torch.manual_seed(0)
    again = ms.build(record, 5)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    assert model(torch.randn(2, 3, 4, 16, 16)).shape == (2, 5)


def test_retraining_overrides_and_clip_length_checks(genotype_file):
    ref = "darts:" + json.dumps({"genotype": str(genotype_file), "channels": 4, "layers": 4, "dropout": 0.3})
    record = ms.resolve(ref, ms.ModelOptions(frames=4))
    assert (record["network"]["channels"], record["network"]["layers"], record["dropout"]) == (4, 4, 0.3)
    assert ms.build(record, 3).config.layers == 4
    with pytest.raises(ms.ArchRefError, match="2 segments x 2 frames = 4 .*frames=8"):
        ms.resolve(f"darts:{genotype_file}", ms.ModelOptions(frames=8))
    with pytest.raises(ms.ArchRefError, match="widths"):
        ms.resolve("darts:" + json.dumps({"genotype": str(genotype_file), "widths": 3}), ms.ModelOptions())
    with pytest.raises(ms.ArchRefError, match="missing.json"):
        ms.resolve(f"darts:{genotype_file.parent / 'missing.json'}", ms.ModelOptions())


def test_retraining_takes_the_snippet_spacing_the_cell_was_searched_on(tmp_path):
    path = tmp_path / "genotype.json"
    search = {"order": "first", "epochs": 2, "config": {"sample_rate": 8}, "alphas": {}}
    write_genotype(path, GenotypeArtifact(GENOTYPE, NETWORK, 3, search), {}, ("darts",))
    assert ms.resolve(f"darts:{path}", ms.ModelOptions(frames=4, sample_rate=8))["kind"] == "darts"
    with pytest.raises(ms.ArchRefError, match="frames 8 apart .*sample_rate=1; set the model's settings.sample_rate"):
        ms.resolve(f"darts:{path}", ms.ModelOptions(frames=4, sample_rate=1))


def test_segment_sampler_one_snippet_per_segment():
    from e3d.data.sampling import SamplingError, segment_bounds, segment_indices

    sampler = ms.clip_sampler({"clip_sampler": {"kind": "segments", "segments": 4, "frames_per_segment": 2}})
    bounds = segment_bounds(40, 4)
    seen = set()
    for seed in range(20):
        idx = sampler.train_indices(40, 8, 2, np.random.default_rng(seed))
        for k, (start, end) in enumerate(bounds):
            snip = idx[2 * k: 2 * k + 2]
            assert start <= snip[0] < end and snip[1] - snip[0] == 2
        seen.add(tuple(idx))
    assert len(seen) > 1  # random offsets in training
    test = sampler.test_indices(40, 8, 2, 1)
    assert len(test) == 1 and np.array_equal(test[0], segment_indices(40, 4, 2, 2, train=False))
    three = sampler.test_indices(40, 8, 1, 3)
    assert len(three) == 3 and len({tuple(c) for c in three}) == 3
    for clip in three:
        assert all(s <= clip[2 * k] < e for k, (s, e) in enumerate(bounds))
    with pytest.raises(SamplingError, match="4 x 2 = 8"):
        sampler.train_indices(40, 6, 1, np.random.default_rng(0))
    assert ms.clip_sampler({"kind": "spec"}) is None
    with pytest.raises(ms.ArchRefError, match="clip sampler 'tsm'"):
        ms.clip_sampler({"clip_sampler": {"kind": "tsm"}})


class RecordingSource:
    def __init__(self, frames: int):
        self.videos = pd.DataFrame({"video_id": ["a", "b"], "label": [0, 1], "split": ["train", "val"],
                                    "num_frames": [frames, frames]})
        self.num_classes = 2
        self.read: list[np.ndarray] = []

    def read_clip(self, video_id, indices):
        self.read.append(np.asarray(indices))
        return np.zeros((len(indices), 20, 20, 3), dtype=np.uint8)


def test_training_and_evaluation_clips_use_the_record_sampler():
    from e3d.darts.data import segment_indices
    from e3d.evaluate.run import EvalClips
    from e3d.evaluate.views import ViewPlan
    from e3d.train.clips import TrainClips, sample_rng
    from e3d.train.settings import TrainSettings

    sampler = ms.clip_sampler({"clip_sampler": {"kind": "segments", "segments": 2, "frames_per_segment": 2}})
    src = RecordingSource(30)
    s = TrainSettings(frames=4, crop=16, sample_rate=1)
    x, _ = TrainClips(src, src.videos.iloc[:1], s, sampler)[(0, 0, 0)]
    assert x.shape == (3, 4, 16, 16)
    rng = sample_rng(s.seed, 0, 0)
    assert np.array_equal(src.read[-1], segment_indices(30, 2, 2, 1, train=True, rng=rng))
    plan = ViewPlan(clips=1, crop=16, frames=4)
    views, _ = EvalClips(src, src.videos.iloc[1:], plan, (0.45,) * 3, (0.225,) * 3, sampler)[0]
    assert views.shape == (1, 3, 4, 16, 16)
    assert np.array_equal(src.read[-1], segment_indices(30, 2, 2, 1, train=False))
    single = ViewPlan(clips=1, crop=16, frames=4, single_frame=True)
    EvalClips(src, src.videos.iloc[1:], single, (0.45,) * 3, (0.225,) * 3, sampler)[0]
    assert len(src.read[-1]) == 1  # the repeated-frame control reads one (middle) frame


def config(**darts):
    from e3d.config import validate_config

    cfg = {"models": {
        "tiny": {"arch": "builtin:e3d-initial"},
        "searched": {"arch": "search:s"},
        "x3d": {"arch": "builtin:x3d-s"},
        "darts-syn": {"arch": "darts:synthetic", "settings": {"frames": 8}, "darts": {"channels": 8}},
        "tiny-sgs": {"arch": "builtin:e3d-initial", "sgs": {}},
    }, "darts": {"datasets": ["synthetic"], **darts}}
    return validate_config(cfg)


def test_darts_section_helpers_and_train_references():
    from e3d.darts.workflow import DartsConfig, DartsConfigError, model_family
    from e3d.train.workflow import TrainConfig

    cfg = config()
    d = DartsConfig(cfg)
    assert [p for paths, _ in d.targets() for p in paths] == [
        "work/darts/synthetic/genotype.json", "work/darts/synthetic/metrics.parquet",
        "results/table_darts_synthetic.csv"]
    assert d.block_name("synthetic") == "synthetic" and "--preset synthetic" in d.search_args("synthetic")
    assert json.loads(d.search_args("synthetic").split("--settings ")[1].strip("'"))["size"] == 24
    assert d.compare_models() == ["tiny", "searched", "x3d"]  # neither DARTS nor SGS
    inputs = d.table_inputs("synthetic")
    assert inputs["darts_evals"] == ["work/eval/synthetic/darts-syn/multiview.metrics.json"]
    assert inputs["darts_benchmark"] == ["logs/darts/synthetic.benchmark.tsv"]
    assert inputs["search_benchmarks"] == ["logs/search/s.benchmark.tsv"]
    assert d.table_params("synthetic")["families"] == {"darts-syn": "DARTS-P3D", "tiny": "E3D",
                                                       "searched": "E3D (searched)", "x3d": "X3D"}
    t = TrainConfig(cfg)
    path, ref = t.arch_source("darts-syn")
    assert path == "work/darts/synthetic/genotype.json"
    assert json.loads(ref.partition(":")[2]) == {"genotype": path, "channels": 8}
    assert not t.profiled("darts-syn") and not t.profiled("tiny-sgs") and t.profiled("tiny")
    assert [model_family(a) for a in ("spec:config/archs/e3d-initial-t3.json", "variant:S-2", "spec:net.json")] == [
        "E3D", "X3D", "spec"]
    assert "work/profile/synthetic/darts-syn/profile.json" not in t.targets(["synthetic"])

    with pytest.raises(DartsConfigError, match="darts.compare names \\['nope'\\]"):
        DartsConfig(config(compare=["nope"]))
    with pytest.raises(DartsConfigError, match="no models entry retrains the search on 'kinetics'"):
        d.table_inputs("kinetics")
    with pytest.raises(DartsConfigError, match="no settings block for dataset 'kinetics'"):
        d.block_name("kinetics")
    with pytest.raises(DartsConfigError, match="data.datasets does not configure"):
        d.store("ucf101")
    cfg["data"]["datasets"]["ucf"] = {"format": "ucf101", "root": "/x"}
    assert DartsConfig(cfg).block_name("ucf") == "ucf101"  # the block of the data format


def _eval_doc(path, *, top1, gflops, params, sgs=None):
    doc = {"top1": top1, "top5": 1.0, "gflops_per_view": gflops, "views": {"crops": 1, "clips": 2, "name": "2-Center"},
           "frames": 8, "crop": 32, "params": params, "gflops_total_per_video": 2 * gflops, "split": "val",
           "videos": 10}
    if sgs is not None:
        doc["sgs"] = sgs
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, doc, Provenance.make("eval_metrics", 1, {}, ()))
    return str(path)


def test_darts_table_rows_and_search_costs(tmp_path, genotype_file):
    from e3d.tables.build import build
    from e3d.tables.systems import SystemsTableError

    ev = tmp_path / "eval" / "synthetic"
    bench = tmp_path / "darts.benchmark.tsv"
    bench.write_text("s\th:m:s\tmax_rss\tcpu_time\n7200.0\t2:00:00\t10\t3600.0\n")
    run_bench = tmp_path / "s.benchmark.tsv"
    run_bench.write_text("s\th:m:s\tmax_rss\tcpu_time\n360.0\t0:06:00\t10\t720.0\n")
    inputs = {"darts_evals": [_eval_doc(ev / "darts-syn/multiview.metrics.json", top1=0.6, gflops=0.02, params=2e4)],
              "evals": [_eval_doc(ev / "searched/multiview.metrics.json", top1=0.7, gflops=0.5, params=3e6),
                        _eval_doc(ev / "x3d/multiview.metrics.json", top1=0.65, gflops=0.4, params=3.5e6)],
              "genotype": [str(genotype_file)], "darts_benchmark": [str(bench)], "search_benchmarks": [str(run_bench)]}
    params = {"dataset": "synthetic", "families": {"darts-syn": "DARTS-P3D", "searched": "E3D (searched)", "x3d": "X3D"},
              "search_runs": {"searched": "s"}}
    out = tmp_path / "res" / "table_darts_synthetic.csv"
    build("table_darts", inputs, params, str(out))
    t = pd.read_parquet(out.with_suffix(".parquet")).set_index("model")
    assert list(t.index) == ["darts-syn", "searched", "x3d"]
    assert t.loc["darts-syn", "search_wall_h"] == pytest.approx(2.0) and t.loc["darts-syn", "search_cpu_h"] == 1.0
    assert t.loc["darts-syn", "search_method"] == "DARTS (first order, 2 epochs)"
    assert t.loc["searched", "search_wall_h"] == pytest.approx(0.1) and t.loc["searched", "search_device"] == "CPU"
    assert np.isnan(t.loc["x3d", "search_wall_h"]) and t.loc["x3d", "search_method"] == "hand-designed"
    assert t.loc["darts-syn", "top1"] == pytest.approx(60.0) and t.loc["x3d", "params_m"] == pytest.approx(3.5)
    meta = json.loads(out.with_suffix(".meta.json").read_text())
    assert "DARTS-P3D on synthetic" in meta["caption"] and meta["extra"]["genotype"] == GENOTYPE.to_dict()
    with pytest.raises(SystemsTableError, match="search run 's'"):
        build("table_darts", {**inputs, "search_benchmarks": []}, params, str(out))
