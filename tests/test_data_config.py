"""The `data` config section: defaults, errors naming the key, and the rule-file helpers built on it."""

import pytest

from e3d.config import ConfigError, validate_config
from e3d.cliflags import to_flags
from e3d.data.workflow import DataConfig


def test_defaults_give_the_synthetic_dataset():
    cfg = validate_config({})
    ds = cfg["data"]["datasets"]["synthetic"]
    assert ds["format"] == "synthetic" and ds["synth"]["classes"] == 10 and ds["extract"]["short_side"] == 64
    data = DataConfig(cfg)
    assert data.is_generated("synthetic") and data.root("synthetic") == "work/raw/synthetic"
    assert data.index_inputs("synthetic") == ["work/raw/synthetic/synth.json"]
    assert data.shard_paths("synthetic")[-1] == "work/data/synthetic/frames/shard-00003.parquet"
    assert "extract" not in data.index_slice("synthetic") and "synth" not in data.index_slice("synthetic")


def test_real_dataset_settings_are_filled_and_checked():
    cfg = validate_config({"data": {"datasets": {"ucf": {"format": "ucf101", "root": "/d/UCF-101",
                                                         "annotations": "/d/lists", "split": 2}}}})
    data = DataConfig(cfg)
    assert not data.is_generated("ucf") and data.index_inputs("ucf") == ["/d/lists"]
    assert data.index_args("ucf") == "--annotations /d/lists --format ucf101 --min-frames 8 --root /d/UCF-101 --split 2"
    with pytest.raises(ConfigError, match=r"data.datasets.ucf.split: expected one of \[1, 2, 3\], got 4"):
        validate_config({"data": {"datasets": {"ucf": {"format": "ucf101", "split": 4}}}})
    with pytest.raises(ConfigError, match=r"data.datasets.x: unknown key\(s\) \['rot'\] \(did you mean 'root'\?\)"):
        validate_config({"data": {"datasets": {"x": {"format": "kinetics400", "rot": "/d"}}}})
    with pytest.raises(ConfigError, match="'format' is a required property"):
        validate_config({"data": {"datasets": {"x": {"root": "/d"}}}})
    with pytest.raises(ConfigError, match="does not match"):
        validate_config({"data": {"datasets": {"bad-name": {"format": "hmdb51"}}}})


def test_source_picks_what_train_and_evaluate_read():
    cfg = validate_config({"data": {"datasets": {"k": {"format": "kinetics400", "root": "/d", "source": "video",
                                                       "extract": {"short_side": 128}}, "s": {"format": "synthetic"}}}})
    data = DataConfig(cfg)
    assert data.source("s") == "frames" and data.clip_input("s") == "work/data/s/frames/manifest.json"
    assert data.clip_args("s", data.clip_input("s")) == "--store work/data/s/frames"
    assert data.clip_input("k") == "work/data/k/index.parquet" and "source" not in data.index_slice("k")
    args = data.clip_args("k", data.clip_input("k"))
    assert args.startswith("--extract '{") and args.endswith("--index work/data/k/index.parquet --source video")
    assert '"short_side": 128' in args and '"fps": 0' in args
    with pytest.raises(ConfigError, match="source: expected one of"):
        validate_config({"data": {"datasets": {"k": {"format": "kinetics400", "source": "mp4"}}}})


def test_flags_are_sorted_and_quoted():
    assert to_flags({"b": 1, "a_b": "x y"}, sort=True) == "--a-b 'x y' --b 1"
