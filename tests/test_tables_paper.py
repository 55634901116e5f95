import math

import pandas as pd
import pytest
from pandas.api import types as ptypes

from e3d.errors import E3DError
from e3d.tables.names import normalise_model_name
from e3d.tables.paper import PAPER_TABLES, load_paper_table, paper_table_meta


def value(table, column, **where):
    frame = load_paper_table(table)
    mask = pd.Series(True, index=frame.index)
    for key, val in where.items():
        mask &= frame[key] == val
    assert mask.sum() == 1, f"{table} {where}: {int(mask.sum())} rows"
    return frame.loc[mask, column].iloc[0]


@pytest.mark.parametrize("name", PAPER_TABLES)
def test_every_table_nonempty_unique_and_typed(name):
    frame = load_paper_table(name)
    meta = paper_table_meta(name)
    assert len(frame) > 0
    assert not frame.duplicated(subset=meta["key"]).any()
    for col, unit in meta["units"].items():
        assert unit, f"{name}.{col} has an empty unit"
        if col not in meta.get("text_columns", ()):
            assert ptypes.is_float_dtype(frame[col]), f"{name}.{col} is {frame[col].dtype}"
    for field in ("caption", "dataset", "flops_convention"):
        assert meta[field]
    if "model_name" in frame:
        assert (frame["model"] == frame["model_name"].map(normalise_model_name)).all()
    assert frame.attrs["paper"]["table"] == name


@pytest.mark.parametrize(
    "table,model,gflops",
    [("table2", "e3d-s", 1.9), ("table2", "e3d-m", 4.7), ("table2", "e3d-l", 18.3),
     ("table3", "e3d-m", 4.7), ("table3", "e3d-l", 18.3), ("table4", "e3d-m", 4.7),
     ("table7", "e3d-s", 1.9), ("table13", "e3d-m", 4.7), ("table11", "e3d-s-stentr", 1.9)],
)
def test_e3d_gflops(table, model, gflops):
    frame = load_paper_table(table)
    assert set(frame.loc[frame["model"] == model, "gflops"]) == {gflops}


def test_spot_values():
    assert value("table12", "stentr", kernel_space="1x3x3,1x5x5,3x3x3") == 202.86
    assert value("table12", "top1", kernel_space="1x3x3,1x5x5,3x3x3,5x3x3") == 47.2
    assert value("table1", "top1", model="s-2") == 45.15
    assert value("table1", "homoentr", model="t-2") == 177.7
    assert value("table1", "params_m", model="t-6") == 3.32
    assert value("table2", "top1", model="e3d-l", dataset="sthv1") == 51.1
    assert value("table2", "top5", model="e3d-l", dataset="sthv2") == 89.8
    assert value("table2", "views", model="e3d-l", dataset="sthv2") == "2x3"
    assert value("table2", "top1", model="x3d-s", dataset="sthv1") == 44.6
    assert bool(value("table2", "reproduced", model="x3d-s", dataset="sthv1"))
    assert value("table3", "top1", model="e3d-l") == 77.6
    assert value("table3", "views", model="swin-t") == "3x4"
    assert value("table3", "frames", model="slowfast") == "8+32"
    assert value("table3", "params_m", model="timesformer-s") == 121.4
    assert value("table4", "energy_kwh", model="movinet-a1") == 691.2
    assert value("table7", "design_cost_h", score="zen") == 26
    assert value("table11", "top1", score="homoentr") == 45.8
    assert value("table13", "latency_ms", model="e3d-m") == 11.4
    assert value("table13", "throughput_clips_s", model="x3d-m") == 74.1


def test_missing_values_are_nan_or_na():
    assert math.isnan(value("table2", "top5", model="tsn", dataset="sthv1"))
    assert math.isnan(value("table3", "params_m", model="tea"))
    assert pd.isna(value("table3", "views", model="i3d"))  # printed "108 x N/A"
    assert math.isnan(value("table7", "design_cost_h", model="x3d-s"))


def test_table4_energy_matches_its_footnotes():
    frame = load_paper_table("table4")
    energy = frame["device_count"] * frame["device_power_w"] * frame["search_time_h"] / 1000
    assert energy.round(3).tolist() == frame["energy_kwh"].tolist()


def test_table2_has_each_model_for_both_datasets():
    frame = load_paper_table("table2")
    assert (frame.groupby("model")["dataset"].apply(sorted) == pd.Series([["sthv1", "sthv2"]] * 16)
            .set_axis(frame.groupby("model").size().index)).all()
    assert set(frame.loc[frame.dataset == "sthv1", "views"]) == {"1x1"}


def test_names_and_errors():
    assert normalise_model_name("E3D-S") == "e3d-s"
    assert normalise_model_name("X3D-S") == "x3d-s"
    assert normalise_model_name(" X3D* ") == "x3d"
    assert normalise_model_name("E3D-S (STEntr)") == "e3d-s-stentr"
    assert normalise_model_name("e3d_s") == "e3d-s"
    with pytest.raises(ValueError):
        normalise_model_name("  ")
    assert load_paper_table(3).equals(load_paper_table("Table 3"))
    with pytest.raises(E3DError, match="no transcribed paper table 'table5'"):
        load_paper_table("table5")


def test_loaded_copy_is_independent():
    frame = load_paper_table("table12")
    frame.loc[0, "top1"] = -1
    assert load_paper_table("table12").loc[0, "top1"] == 46.3


def test_data_files_are_package_data(repo_root):
    import tomllib

    conf = tomllib.loads((repo_root / "pyproject.toml").read_text())
    patterns = conf["tool"]["setuptools"]["package-data"]["e3d.tables.paper"]
    assert set(patterns) >= {"*.csv", "*.yaml"}
