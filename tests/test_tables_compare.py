import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from e3d.artifacts import ArtifactError, read_parquet
from e3d.errors import E3DError
from e3d.tables.compare import compare_with_paper
from e3d.tables.format import format_for_print
from e3d.tables.paper import load_paper_table
from e3d.tables.write import TABLE_SCHEMA, table_provenance, verify_table, write_table


def ours_sth():
    return pd.DataFrame(
        {"model": ["E3D-S", "X3D_S", "tiny-net"], "dataset": ["sthv1"] * 3,
         "gflops": [1.86, 1.96, 0.3], "top1": [40.0, 41.25, 10.0]}
    )


def test_compare_columns_diffs_and_presence():
    out = compare_with_paper(ours_sth(), load_paper_table("table2"), on=["model", "dataset"],
                             paper_columns=["gflops", "top1", "top5", "views"])
    assert list(out.columns) == ["model", "dataset", "gflops", "gflops_paper", "gflops_diff", "top1",
                                 "top1_paper", "top1_diff", "top5_paper", "views_paper", "rows"]
    e3d = out[(out.model == "e3d-s") & (out.dataset == "sthv1")].iloc[0]
    assert e3d.rows == "both"
    assert e3d.top1_diff == pytest.approx(40.0 - 47.1)
    assert e3d.gflops_diff == pytest.approx(1.86 - 1.9)
    x3d = out[(out.model == "x3d-s") & (out.dataset == "sthv1")].iloc[0]
    assert x3d.top1_diff == pytest.approx(41.25 - 44.6)
    assert out.iloc[-1].model == "tiny-net" and out.iloc[-1].rows == "ours"
    assert np.isnan(out.iloc[-1].top1_paper)
    # paper order first: TSN is the paper's first row
    assert out.iloc[0].model == "tsn" and out.iloc[0].rows == "paper"
    assert len(out) == 32 + 1


def test_compare_left_keeps_only_our_rows():
    out = compare_with_paper(ours_sth(), load_paper_table("table2"), on=["model", "dataset"], how="left")
    assert out.model.tolist() == ["x3d-s", "e3d-s", "tiny-net"]  # the paper's order, then ours
    assert "method_paper" in out.columns and out.loc[1, "method_paper"] == "E3D"


def test_compare_errors():
    paper = load_paper_table("table3")
    with pytest.raises(E3DError, match="lack key column"):
        compare_with_paper(pd.DataFrame({"name": ["x"]}), paper)
    dup = pd.DataFrame({"model": ["E3D-M", "e3d_m"], "top1": [1.0, 2.0]})
    with pytest.raises(E3DError, match="duplicate keys"):
        compare_with_paper(dup, paper)
    with pytest.raises(E3DError, match="reserved"):
        compare_with_paper(pd.DataFrame({"model": ["a"], "top1_paper": [1.0]}), paper)
    with pytest.raises(E3DError, match="no column"):
        compare_with_paper(pd.DataFrame({"model": ["a"]}), paper, paper_columns=["nope"])


def test_compare_non_model_key_and_text_metric():
    ours = pd.DataFrame({"kernel_space": ["1x3x3,1x5x5,3x3x3"], "stentr": [202.8559], "views": ["1x1"]})
    out = compare_with_paper(ours, load_paper_table("table12"), on=["kernel_space"], how="left")
    assert out.loc[0, "stentr_diff"] == pytest.approx(202.8559 - 202.86)
    assert "views_diff" not in out.columns


def test_format_fixed_decimals_and_units():
    frame = pd.DataFrame({"model": ["a", None], "top1": [47.123, np.nan], "top1_diff": [-0.0001, 1.0],
                          "latency_ms": [11.4, 2.0], "n": pd.array([3, None], dtype="Int64"),
                          "ok": [True, False], "custom": [1.23456, 2.0]})
    out = format_for_print(frame, decimals={"custom": 1}, units={"custom": "widgets"})
    assert list(out.columns) == ["model", "top1 [%]", "top1_diff [pp]", "latency_ms [ms]", "n", "ok",
                                 "custom [widgets]"]
    assert out["top1 [%]"].tolist() == ["47.12", ""]
    assert out["top1_diff [pp]"].tolist() == ["0.00", "1.00"]  # never "-0.00"
    assert out["n"].tolist() == ["3", ""]
    assert out["custom [widgets]"].tolist() == ["1.2", "2.0"]
    assert out["model"].tolist() == ["a", ""]


def test_write_table_csv_parquet_meta(tmp_path):
    out = compare_with_paper(ours_sth(), load_paper_table("table2"), on=["model", "dataset"],
                             paper_columns=["gflops", "top1"])
    paths = write_table(out, tmp_path / "results" / "table2_sth.csv", table_provenance({"views": "1x1"}),
                        caption="Sth-Sth", extra={"device": "cpu"})
    text = paths.csv.read_text()
    assert text.splitlines()[0].startswith("model,dataset,gflops [GFLOPs],gflops_paper [GFLOPs]")
    assert "e3d-s,sthv1,1.86,1.90,-0.04,40.00,47.10,-7.10,both" in text
    back = read_parquet(paths.parquet, schema=TABLE_SCHEMA)
    assert back.loc[back.model == "x3d-s", "top1"].dropna().tolist() == [41.25]
    assert pq.read_schema(paths.parquet).field("top1_diff").metadata == {b"unit": b"pp"}
    meta = verify_table(paths.csv)
    assert meta["caption"] == "Sth-Sth" and meta["extra"] == {"device": "cpu"} and meta["rows"] == len(out)
    assert {c["name"]: c.get("decimals") for c in meta["columns"]}["top1"] == 2
    page = paths.html.read_text()
    assert "<th>top1_diff [pp]</th>" in page and "<td>-7.10</td>" in page and "Sth-Sth" in page
    assert not list(tmp_path.rglob("*.tmp"))
    # a CSV from another run no longer matches the meta JSON
    paths.csv.write_text(text.replace("40.00", "41.00"))
    with pytest.raises(ArtifactError, match="does not match"):
        verify_table(paths.csv)
    assert json.loads(paths.meta.read_text())["provenance"]["schema"] == TABLE_SCHEMA


def test_write_table_rejects_non_csv(tmp_path):
    with pytest.raises(ArtifactError, match=".csv"):
        write_table(pd.DataFrame({"a": [1]}), tmp_path / "x.txt", table_provenance({}))


def test_gflops_columns_widen_to_show_the_smallest_value():
    import pandas as pd

    from e3d.tables.format import format_for_print

    printed = format_for_print(pd.DataFrame({"gflops": [0.0156, 1.9, 600.0], "gflops_diff": [-1.88, None, 0.0],
                                             "top1": [1.234, 2.0, 3.0]}))
    assert printed["gflops [GFLOPs]"].tolist() == ["0.016", "1.900", "600.000"]  # one column, one decimals count
    assert printed["gflops_diff [GFLOPs]"].tolist() == ["-1.88", "", "0.00"]
    assert printed["top1 [%]"].tolist() == ["1.23", "2.00", "3.00"]  # other columns keep theirs
