"""`e3d darts-search` on a real (tiny) synthetic frame store, config resolution and the darts config schema."""

import argparse
import json
import subprocess
import sys

import jsonschema
import pytest
import yaml

from e3d.artifacts import read_parquet
from e3d.commands import darts_search
from e3d.config import load_schema
from e3d.darts.config import PRESETS, SearchConfig
from e3d.darts.genotype import read_genotype
from e3d.darts.network import build_discrete_network


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from e3d.data.extract import ExtractSettings, extract
    from e3d.data.index import build_index
    from e3d.data.synth import SynthSettings, write_dataset

    root = tmp_path_factory.mktemp("darts_store")
    write_dataset(root / "raw", SynthSettings(classes=3, clips_per_class=4, min_side=32, max_side=40, min_seconds=1,
                                              max_seconds=1.5, min_fps=12, max_fps=12, webm_fraction=0.0))
    df, names = build_index("synthetic", root / "raw", progress=False)
    extract(df, root / "raw", root / "frames", ExtractSettings(short_side=24, shards=1), names)
    return root / "frames"


def test_darts_search_command_writes_genotype_and_metrics(store, tmp_path, cli_env):
    out = tmp_path / "out"
    env = {**cli_env, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "e3d.cli", "darts-search", "--store", str(store), "--out", str(out),
           "--preset", "synthetic", "--epochs", "1", "--size", "16", "--segments", "2", "--frames-per-segment", "2",
           "--batch-size", "4", "--channels", "4", "--layers", "3", "--bn-batches", "1"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "[darts-search]" in proc.stderr and "epoch 1/1" in proc.stderr
    art = read_genotype(out / "genotype.json")
    assert art.num_classes == 3 and art.network.segments == 2 and art.network.channels == 4
    assert art.search["train_videos"] + art.search["val_videos"] == 9  # 3 classes x 4 clips, 80% train
    assert art.search["order"] == "first" and art.search["seconds"] > 0
    metrics = read_parquet(out / "metrics.parquet", schema="e3d.darts_search_metrics")
    assert list(metrics.epoch) == [0]
    assert json.loads(metrics.genotype.iloc[0]) == art.genotype.to_dict()
    import torch

    model = build_discrete_network(art.genotype, art.num_classes, art.network)
    assert model(torch.zeros(2, 3, 4, 16, 16)).shape == (2, 3)

    bad = subprocess.run([*cmd[:5], str(tmp_path / "missing"), *cmd[6:]], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "missing" in bad.stderr and "Traceback" not in bad.stderr


def _args(**kw):
    parser = argparse.ArgumentParser()
    darts_search.add_arguments(parser)
    argv = ["--store", "s", "--out", "o"]
    for k, v in kw.items():
        argv += [f"--{k.replace('_', '-')}", str(v)]
    return parser.parse_args(argv)


def test_config_resolution_preset_then_file_then_flags(tmp_path):
    assert darts_search.resolve_config(_args()) == PRESETS["ucf101"]
    f = tmp_path / "darts.yaml"
    f.write_text(yaml.safe_dump({"epochs": 7, "order": "second", "segments": 3}))
    cfg = darts_search.resolve_config(_args(preset="synthetic", config=f, segments=5))
    assert (cfg.epochs, cfg.order, cfg.segments, cfg.channels) == (7, "second", 5, PRESETS["synthetic"].channels)
    f.write_text(yaml.safe_dump({"epoch": 7}))
    with pytest.raises(Exception, match="unknown search config key.*'epoch'"):
        darts_search.resolve_config(_args(config=f))
    with pytest.raises(Exception, match="train_portion"):
        darts_search.resolve_config(_args(train_portion=1.5))


def test_schema_defaults_are_the_presets(repo_root):
    schema = load_schema(repo_root / "workflow" / "schemas" / "generated" / "darts.schema.yaml")
    filled = {}
    from e3d.config import _fill_defaults

    _fill_defaults(filled, schema)
    jsonschema.Draft7Validator(schema).validate(filled)
    for name, preset in PRESETS.items():
        assert SearchConfig.from_dict(filled[name]) == preset
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"ucf101": {"order": "third"}}, schema)
