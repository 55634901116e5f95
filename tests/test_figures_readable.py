"""Every figure of the default run, rendered from small inputs like the default run's, read as a reviewer reads it:
tick labels distinct and apart, axes labelled with their units, no text over another, lines joining only the sorted
sizes of one model family, no correlation claimed from two points."""

import itertools
import re

import numpy as np
import pandas as pd
import pytest
from matplotlib.text import Text

from e3d.tables import figures, stats
from e3d.tables.paper import load_paper_table


@pytest.fixture
def drawn(monkeypatch):
    """The Figure each figure function saves (it still writes its PNG), drawn as saved."""
    captured = []
    save = figures.save_figure

    def capture(fig, *args, **kwargs):
        captured.append(fig)
        return save(fig, *args, **kwargs)

    monkeypatch.setattr(figures, "save_figure", capture)

    def last():
        fig = captured[-1]
        fig.canvas.draw()
        return fig

    return last


def _tick_labels(axis):
    """(label, value) of the major ticks the axis draws: inside its view, visible, with text."""
    lo, hi = sorted(axis.get_view_interval())
    span = max(abs(lo), abs(hi), 1e-300) * 1e-9
    return [(t.label1, t.get_loc()) for t in axis.get_major_ticks()
            if lo - span <= t.get_loc() <= hi + span and t.label1.get_visible() and t.label1.get_text()]


def _texts(fig):
    """Every text the figure draws: tick labels, axis labels, titles, annotations, legends, figure texts."""
    texts = []
    for ax in (a for a in fig.axes if a.get_visible()):
        texts += [label for axis in (ax.xaxis, ax.yaxis) for label, _ in _tick_labels(axis)]
        texts += [ax.xaxis.label, ax.yaxis.label, ax.title, ax._left_title, ax._right_title, *ax.texts]
        if ax.get_legend():
            texts += ax.get_legend().get_texts()
    texts += [*fig.texts, *(t for legend in fig.legends for t in legend.get_texts())]
    return [t for t in texts if t.get_visible() and t.get_text().strip()]


def _overlapping(texts, renderer):
    boxes = [(t.get_text(), Text.get_window_extent(t, renderer)) for t in texts]
    return [(a, b) for (a, ba), (b, bb) in itertools.combinations(boxes, 2)
            if min(ba.x1, bb.x1) - max(ba.x0, bb.x0) > 0.5 and min(ba.y1, bb.y1) - max(ba.y0, bb.y0) > 0.5]


def _printed_value(name):
    """The number a tick label prints: "0.01", "1000", "1e-3" or mathtext "$\\mathdefault{10^{-2}}$"."""
    plain = name.replace("\u2212", "-")
    power = re.search(r"(\d+)\^\{?(-?\d+)\}?", plain)
    if power:
        return float(power.group(1)) ** int(power.group(2))
    return float(re.sub(r"[^0-9.eE+\-]", "", plain))


def check_readable(fig):
    """Tick labels distinct (log ticks print their own values, in order) and no drawn text over another."""
    renderer = fig.canvas.get_renderer()
    for ax in (a for a in fig.axes if a.get_visible()):
        for axis in (ax.xaxis, ax.yaxis):
            ticks = _tick_labels(axis)
            names = [label.get_text() for label, _ in ticks]
            assert len(names) == len(set(names)), f"repeated tick labels {names}"
            if axis.get_scale() == "log":
                assert len(names) >= 2, f"log axis with ticks {names}"
                for name, (_, value) in zip(names, ticks):
                    printed = _printed_value(name)
                    assert np.isclose(printed, value, rtol=0.01), f"log tick at {value} printed as {name!r}"
    clashes = _overlapping(_texts(fig), renderer)
    assert not clashes, f"texts overlap: {clashes}"


def check_lines(ax, family_of):
    """Each line with more points than one joins points in order of x, all of one family."""
    for line in ax.get_lines():
        xs, ys = (np.asarray(v, dtype=float) for v in line.get_data())
        if len(xs) < 2 or (np.ptp(ys) == 0 and line.get_linestyle() == "--"):  # a reference line (chance)
            continue
        assert list(xs) == sorted(xs), f"line joins points out of order: {list(xs)}"
        families = {family_of.get((round(x, 9), round(y, 9))) for x, y in zip(xs, ys)}
        assert len(families) == 1 and None not in families, f"line joins models of several families: {families}"


def default_fig5_rows():
    ours = pd.DataFrame({
        "model": ["e3d-searched-s", "e3d-initial-t3", "x3d-s-S-2", "x3d-s-T-2", "table7-zen", "table7-madet",
                  "table7-stentr", "fig3-000", "fig3-001"],
        "gflops": [0.041, 0.017, 0.0021, 0.0020, 0.0052, 0.0049, 0.0055, 0.0061, 0.0125],
        "top1": [6.5, 91.5, 10.0, 10.0, 9.0, 11.0, 10.5, 10.0, 12.0]}).assign(family="ours")
    paper = load_paper_table("table3")[["model", "gflops", "top1"]].dropna().assign(family="paper (Table 3)")
    return pd.concat([ours, paper], ignore_index=True)


def test_fig5_readable(tmp_path, drawn):
    rows = default_fig5_rows()
    figures.accuracy_vs_gflops(rows, tmp_path / "fig5.png")
    fig = drawn()
    ax = fig.axes[0]
    check_readable(fig)
    assert "GFLOPs per view" in ax.get_xlabel() and "(%)" in ax.get_ylabel()
    # lines join only the sizes of one family (E3D-M/L, X3D-M/L), never "ours" as a whole
    family = {(round(g, 9), round(t, 9)): (f, m.rsplit("-", 1)[0] if m[:3] in ("e3d", "x3d") else m)
              for g, t, f, m in zip(rows.gflops, rows.top1, rows.family, rows.model)}
    check_lines(ax, family)
    assert set(rows.model) <= {t.get_text() for t in ax.texts}  # every model is labelled


def test_fig2_two_points_at_chance(tmp_path, drawn):
    rows = pd.DataFrame({"model": ["S-2", "T-2"], "stentr": [40.1, 39.2], "homoentr": [35.0, 35.1],
                         "top1": [10.0, 10.0]})
    figures.accuracy_vs_scores(rows, tmp_path / "fig2.png", chance=10.0)
    fig = drawn()
    check_readable(fig)
    for ax in fig.axes:
        assert "tau" not in ax.get_title() and "too few" in ax.get_title()
        chance = [line for line in ax.get_lines() if line.get_linestyle() == "--"
                  and np.allclose(np.asarray(line.get_ydata(), dtype=float), 10.0)]
        assert chance and "chance" in {t.get_text() for t in ax.texts}


def test_fig2_and_fig3_scatter_with_enough_points(tmp_path, drawn):
    rng = np.random.default_rng(0)
    data = pd.DataFrame({m: rng.normal(size=6) for m in ("stentr", "homoentr")}).assign(
        model=[f"fig3-00{i}" for i in range(6)], top1=[31.0, 44.5, 52.0, 38.0, 61.0, 47.5])
    figures.accuracy_vs_scores(data, tmp_path / "fig3_scatter.png")
    fig = drawn()
    check_readable(fig)
    assert all(re.search(r"Kendall tau -?\d\.\d\d \(n = 6\)", ax.get_title()) for ax in fig.axes)


def test_fig3_correlation_axis_is_unitless(tmp_path, drawn):
    rng = np.random.default_rng(0)
    metrics = ["stentr", "homoentr", "zen", "madet", "params_m", "gflops"]
    data = pd.DataFrame({m: rng.normal(size=16) for m in metrics})
    data["top1"] = 60 + 10 * data["stentr"] + rng.normal(size=16)
    corr = pd.concat([stats.correlations_with_ci(data, "top1", metrics, method=m, n_boot=50, seed=1)
                      for m in ("kendall", "spearman")])
    figures.correlation_bars(corr, tmp_path / "fig3.png")
    fig = drawn()
    check_readable(fig)
    ylabels = [ax.get_ylabel() for ax in fig.axes]
    assert all("%" not in y for y in ylabels), ylabels
    assert "Kendall tau" in ylabels[0] and "Spearman rho" in ylabels[1]
    assert all(ax.get_ylim()[0] >= -1.2 and ax.get_ylim()[1] <= 1.2 for ax in fig.axes)


def test_fig4_axes_name_their_units(tmp_path, drawn):
    chans = [16, 32, 64, 128]
    rng = np.random.default_rng(0)
    spread = pd.DataFrame([(c, "forward", v) for c in chans for v in rng.normal(np.log(c), 0.05, 20)]
                          + [(c, "analytic", float(np.log(c))) for c in chans], columns=["channels", "method", "value"])
    timing = pd.DataFrame([(c, "forward", 0.1 * c) for c in chans] + [(c, "analytic", 0.002) for c in chans],
                          columns=["channels", "method", "seconds"])
    figures.spread_and_time(spread, timing, tmp_path / "fig4.png", value_label="entropy score (HomoEntr)",
                            seconds_label="seconds per 1,000 evaluations")
    fig = drawn()
    check_readable(fig)
    assert fig.axes[1].get_yscale() == "log" and "seconds" in fig.axes[1].get_ylabel()
    assert fig.axes[0].get_ylabel() == "entropy score (HomoEntr)"


def test_search_traces_one_panel_per_run(tmp_path, drawn):
    long = [(r, i, 120 + 10 * np.log1p(i) + k, 110 + 9 * np.log1p(i) + k)
            for k, r in enumerate(["l", "m", "s", "s_homoentr"]) for i in range(4000, 20001, 4000)]
    short = [(r, 12, 40.0 + k, 35.0 + k) for k, r in enumerate(["table7_madet", "table7_stentr", "table7_zen"])]
    trace = pd.DataFrame(long + short, columns=["run", "iteration", "best", "median"])
    figures.search_traces(trace, tmp_path / "traces.png", run="run")
    fig = drawn()
    check_readable(fig)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == sorted(set(trace.run))
    for ax in panels:
        for line in ax.get_lines():
            xs = list(line.get_xdata())
            assert xs == sorted(xs) and line.get_marker() not in ("", "None", None)  # one-iteration runs show
