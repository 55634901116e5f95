import numpy as np
import pandas as pd
import pytest
from PIL import Image

from e3d.artifacts import read_json
from e3d.errors import E3DError
from e3d.tables import figures, stats
from e3d.tables.paper import load_paper_table


def check_png(path, min_size=(300, 200)):
    with Image.open(path) as img:
        img.load()
        assert img.format == "PNG"
        assert img.size[0] >= min_size[0] and img.size[1] >= min_size[1]
        pixels = np.asarray(img.convert("L"))
    assert pixels.std() > 5, f"{path} looks blank"


@pytest.fixture
def table1():
    frame = load_paper_table("table1")
    frame["stentr"] = frame["homoentr"] + np.linspace(0, 4, len(frame))
    return frame


def test_accuracy_vs_scores_png_csv_and_meta(tmp_path, table1):
    out = figures.accuracy_vs_scores(table1, tmp_path / "fig2.png", provenance=figures.figure_provenance({}),
                                     caption="Top-1 vs scores", extra={"dataset": "sthv1"})
    check_png(out["png"], (600, 300))
    behind = pd.read_csv(out["csv"])
    assert list(behind.columns) == ["model", "top1", "stentr", "homoentr"] and len(behind) == 10
    meta = read_json(out["meta"], schema=figures.FIGURE_SCHEMA)
    assert meta["files"]["png"]["name"] == "fig2.png" and meta["extra"] == {"dataset": "sthv1"}
    assert not list(tmp_path.glob("*.tmp"))


def test_figures_are_deterministic(tmp_path, table1):
    a = figures.accuracy_vs_scores(table1, tmp_path / "a.png")
    b = figures.accuracy_vs_scores(table1, tmp_path / "b.png")
    assert a["png"].read_bytes() == b["png"].read_bytes()
    assert a["csv"].read_bytes() == b["csv"].read_bytes()


def test_accuracy_vs_gflops(tmp_path):
    t2 = load_paper_table("table2")
    t2 = t2[t2.dataset == "sthv2"].assign(family=lambda f: f.method.str.rstrip("*"))
    out = figures.accuracy_vs_gflops(t2, tmp_path / "fig5.png")
    check_png(out["png"])
    behind = pd.read_csv(out["csv"])
    assert "e3d-l" in set(behind.model) and behind.top1.notna().all()  # rows without accuracy are left out


def test_correlation_bars_with_bootstrap(tmp_path):
    rng = np.random.default_rng(1)
    data = pd.DataFrame({"stentr": rng.normal(size=60), "gflops": rng.normal(size=60)})
    data["top1"] = 2 * data["stentr"] + rng.normal(size=60)
    corr = stats.correlations_with_ci(data, "top1", ["stentr", "gflops"], n_boot=300, seed=3)
    again = stats.correlations_with_ci(data, "top1", ["stentr", "gflops"], n_boot=300, seed=3)
    pd.testing.assert_frame_equal(corr, again)
    st, gf = corr.set_index("metric").loc["stentr"], corr.set_index("metric").loc["gflops"]
    assert st.ci_low <= st.coefficient <= st.ci_high and st.ci_low > 0.3
    assert gf.ci_low < 0 < gf.ci_high
    check_png(figures.correlation_bars(corr, tmp_path / "fig3.png")["png"])


def test_correlation_errors():
    with pytest.raises(E3DError, match="at least 3 points"):
        stats.correlations_with_ci(pd.DataFrame({"a": [1.0, 2.0], "t": [1.0, 2.0]}), "t", ["a"])
    with pytest.raises(E3DError, match="unknown correlation method"):
        stats.correlations_with_ci(pd.DataFrame({"a": [1.0], "t": [1.0]}), "t", ["a"], method="x")


def test_spread_and_time(tmp_path):
    rng = np.random.default_rng(0)
    chans = [16, 32, 64, 128]
    spread = pd.DataFrame([(c, "forward", v) for c in chans for v in rng.normal(c, 2, 40)]
                          + [(c, "analytic", float(c)) for c in chans], columns=["channels", "method", "value"])
    timing = pd.DataFrame([(c, "forward", 0.1 * c) for c in chans] + [(c, "analytic", 0.001) for c in chans],
                          columns=["channels", "method", "seconds"])
    out = figures.spread_and_time(spread, timing, tmp_path / "fig4.png")
    check_png(out["png"], (800, 300))
    behind = pd.read_csv(out["csv"])
    assert set(behind.panel) == {"spread", "time_s"} and len(behind) == len(spread) + len(timing)


def test_search_traces(tmp_path):
    trace = pd.DataFrame([(s, i, np.log1p(i) + k, 0.8 * np.log1p(i) + k)
                          for k, s in enumerate(["stentr", "homoentr"]) for i in range(0, 500, 25)],
                         columns=["score", "iteration", "best", "median"])
    check_png(figures.search_traces(trace, tmp_path / "trace.png", run="score")["png"])


def test_figure_errors(tmp_path, table1):
    with pytest.raises(E3DError, match="lacks column"):
        figures.accuracy_vs_scores(table1.drop(columns="stentr"), tmp_path / "x.png")
    with pytest.raises(E3DError, match="no rows"):
        figures.search_traces(pd.DataFrame(columns=["iteration", "best", "median"]), tmp_path / "x.png")
    with pytest.raises(E3DError, match=".png"):
        figures.accuracy_vs_scores(table1, tmp_path / "x.jpg")
    assert not (tmp_path / "x.csv").exists()
