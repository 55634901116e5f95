"""The paper's figures from our data: each PNG is written atomically with the CSV of the numbers behind it
(same stem) and, when given provenance, a `<stem>.meta.json` naming both files by digest.

Figures are drawn on a bare matplotlib Figure with the Agg canvas (no pyplot, no global state, no display),
with a fixed style and no timestamp in the PNG, so the same data gives the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import math
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from e3d.artifacts import Provenance, write_bytes_atomic, write_json
from e3d.errors import E3DError
from e3d.tables.labels import place_labels, settle

FIGURE_SCHEMA = "e3d.figure"
FIGURE_SCHEMA_VERSION = 1
DPI = 150
STYLE = {
    "font.family": "DejaVu Sans", "font.size": 9, "axes.grid": True, "grid.alpha": 0.3,
    "axes.spines.top": False, "axes.spines.right": False, "savefig.dpi": DPI,
}
SCORE_LABELS = {"stentr": "STEntr-Score", "homoentr": "HomoEntr-Score", "gflops": "GFLOPs",
                "params_m": "Parameters (M)", "top1": "Top-1 accuracy (%)", "top5": "Top-5 accuracy (%)",
                "zen": "Zen-score", "madet": "MAE-DET score"}
# a metric's name where it stands for itself (a bar of Figure 3), not for an axis of its values
METRIC_NAMES = {**SCORE_LABELS, "params_m": "Parameters", "top1": "top-1 accuracy", "top5": "top-5 accuracy"}
CORRELATION_NAMES = {"kendall": "Kendall tau", "spearman": "Spearman rho", "pearson": "Pearson r"}
MIN_CORRELATION_POINTS = 3  # below this a rank correlation is -1, 0 or 1 by construction
SIZE_SUFFIXES = ("xxs", "xs", "s", "m", "l", "xl", "xxl")  # model sizes of one family: e3d-s/m/l, x3d-xs/s/m/l


class FigureError(E3DError, ValueError):
    """Data a figure cannot be drawn from."""


def figure_provenance(config: Any, code_modules: tuple[str, ...] = ("tables",)) -> Provenance:
    """Provenance for a figure; `config` is the config slice (and inputs' digests) that produced it."""
    from e3d.provenance import COMMON

    return Provenance.make(FIGURE_SCHEMA, FIGURE_SCHEMA_VERSION, config, COMMON + tuple(code_modules))


def _label(column: str) -> str:
    return SCORE_LABELS.get(column, column)


def _require(data: pd.DataFrame, columns: Sequence[str], figure: str) -> None:
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise FigureError(f"{figure}: data lacks column(s) {missing}; it has {list(data.columns)}")
    if data.empty:
        raise FigureError(f"{figure}: no rows to plot")


def _new_figure(width: float, height: float) -> Figure:
    # drawn at the saved resolution, so text measured while drawing (label placement) is what the PNG shows
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(
    fig: Figure,
    png_path: str | Path,
    data: pd.DataFrame,
    provenance: Provenance | None = None,
    *,
    caption: str = "",
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Path]:
    """Write the PNG and the CSV behind it (and the meta JSON if `provenance` is given), each atomically."""
    png_path = Path(png_path)
    if png_path.suffix != ".png":
        raise FigureError(f"{png_path}: figures are written as .png")
    buf = io.BytesIO()
    with matplotlib.rc_context(STYLE):
        fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    csv_path = png_path.with_suffix(".csv")
    write_bytes_atomic(csv_path, data.to_csv(index=False, lineterminator="\n").encode())
    write_bytes_atomic(png_path, buf.getvalue())
    out = {"png": png_path, "csv": csv_path}
    if provenance is not None:
        meta = png_path.with_suffix(".meta.json")
        payload = {
            "caption": caption,
            "files": {k: {"name": p.name, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()} for k, p in out.items()},
            "extra": dict(extra or {}),
        }
        out["meta"] = write_json(meta, payload, provenance)
    return out


def _decimal_log_label(value: float, _pos: Any = None) -> str:
    """A log axis's tick as a plain number with the decimals it needs: 0.001, 0.01, 0.1, 1, 10, 100."""
    if value <= 0:
        return ""
    decimals = max(0, -int(math.floor(math.log10(value) + 1e-9)))
    return f"{value:.{decimals}f}"


def _log_x_axis(ax) -> None:
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10.0))
    ax.xaxis.set_major_formatter(FuncFormatter(_decimal_log_label))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _chance_line(ax, chance: float | None) -> list:
    """The chance level as a dashed line with its label at the right; returns the label (for labels to avoid)."""
    if chance is None or not np.isfinite(chance):
        return []
    ax.axhline(chance, color="0.35", ls="--", lw=0.9, zorder=2)
    return [ax.annotate("chance", (1.0, chance), xycoords=("axes fraction", "data"), xytext=(-2, 2),
                        textcoords="offset points", ha="right", va="bottom", fontsize=7, color="0.35")]


def _correlation_title(x: pd.Series, y: pd.Series) -> str:
    """Kendall's tau of the points where it means something; otherwise why there is none."""
    from scipy.stats import kendalltau

    n = len(x)
    if n < MIN_CORRELATION_POINTS:
        return f"n = {n}: too few models for a correlation"
    if x.nunique() < 2 or y.nunique() < 2:
        return f"n = {n}: no spread{' in accuracy' if y.nunique() < 2 else ''}, no correlation"
    return f"Kendall tau {kendalltau(x, y)[0]:.2f} (n = {n})"


def _pad_flat_axis(ax, values: pd.Series, chance: float | None, least: float = 10.0) -> None:
    """When the accuracies (and chance) span under `least` points, show `least` points around them, so equal
    accuracies read as equal rather than as a spread over 9.6-10.4."""
    span = list(values) + ([chance] if chance is not None and np.isfinite(chance) else [])
    if span and max(span) - min(span) < least:
        middle = (max(span) + min(span)) / 2.0
        ax.set_ylim(middle - least / 2.0, middle + least / 2.0)


def accuracy_vs_scores(
    data: pd.DataFrame,
    png_path: str | Path,
    scores: Sequence[str] = ("stentr", "homoentr"),
    accuracy: str = "top1",
    label: str = "model",
    chance: float | None = None,
    provenance: Provenance | None = None,
    **meta: Any,
) -> dict[str, Path]:
    """Figure 2: accuracy against each score, one panel per score, every point labelled with its model.
    Each panel's title gives Kendall's tau of the points shown, or says why there is none (under 3 points, no
    spread); `chance` (in the accuracy's unit) draws the chance level as a dashed line."""
    _require(data, [accuracy, label, *scores], "accuracy vs scores")
    with matplotlib.rc_context(STYLE):
        fig = _new_figure(4.2 * len(scores), 3.6)
        axes = fig.subplots(1, len(scores), squeeze=False)[0]
        panels = []
        for ax, score in zip(axes, scores):
            rows = data[[score, accuracy, label]].dropna()
            ax.scatter(rows[score], rows[accuracy], s=22, color="C0", zorder=3)
            avoid = _chance_line(ax, chance)
            _pad_flat_axis(ax, rows[accuracy], chance)
            ax.set_title(f"{_label(accuracy)} vs {_label(score)}\n{_correlation_title(rows[score], rows[accuracy])}",
                         fontsize=9)
            ax.set_xlabel(_label(score))
            ax.set_ylabel(_label(accuracy))
            ax.margins(x=0.15, y=0.12)  # room for the labels of the outermost points
            panels.append((ax, score, rows, avoid))
        settle(fig)
        for ax, score, rows, avoid in panels:
            place_labels(ax, rows[score], rows[accuracy], rows[label], avoid=avoid)
    return save_figure(fig, png_path, data[[label, accuracy, *scores]], provenance, **meta)


def model_series(name: str) -> str | None:
    """The family a model's name puts it in when it is one size of several (e3d-m, e3d-l -> "e3d"), else None:
    only sizes of one family are joined by a line, as the paper draws E3D-S/M/L and X3D-S/M/L."""
    stem, sep, size = str(name).rpartition("-")
    return stem.lower() if sep and stem and size.lower() in SIZE_SUFFIXES else None


def accuracy_vs_gflops(
    data: pd.DataFrame,
    png_path: str | Path,
    gflops: str = "gflops",
    accuracy: str = "top1",
    label: str = "model",
    family: str | None = "family",
    series: Callable[[str], str | None] | None = model_series,
    log_x: bool = True,
    xlabel: str = "GFLOPs per view",
    provenance: Provenance | None = None,
    **meta: Any,
) -> dict[str, Path]:
    """Figure 5: accuracy/complexity trade-off; each point a model, coloured by `family` (ours vs the paper's).
    Only the sizes of one model series (`series` of the model's name, e.g. E3D-M/L) within a family are joined, in
    order of GFLOPs; unrelated models are points. Labels are placed so that none overlaps another."""
    columns = [gflops, accuracy, label] + ([family] if family else [])
    _require(data, columns, "accuracy vs GFLOPs")
    rows = data[columns].dropna(subset=[gflops, accuracy])
    with matplotlib.rc_context(STYLE):
        fig = _new_figure(6.4, 4.8)
        ax = fig.subplots()
        groups = list(rows.groupby(family, sort=True)) if family else [("", rows)]
        for i, (name, group) in enumerate(groups):
            color = f"C{i % 10}"
            ax.scatter(group[gflops], group[accuracy], s=20, color=color, zorder=3, label=str(name) or None)
            keys = group[label].map(series) if series else pd.Series(None, index=group.index)
            for _, members in group[keys.notna()].groupby(keys[keys.notna()], sort=True):
                if len(members) >= 2:
                    members = members.sort_values(gflops)
                    ax.plot(members[gflops], members[accuracy], color=color, lw=1.2, zorder=2)
        if log_x:
            _log_x_axis(ax)
        ax.set_xlabel(xlabel + (" (log scale)" if log_x else ""))
        ax.set_ylabel(_label(accuracy))
        ax.margins(x=0.08, y=0.1)
        legend = [ax.legend(fontsize=7, loc="lower right")] if family else []
        settle(fig)
        place_labels(ax, rows[gflops], rows[accuracy], rows[label], marker_pt=4.5, avoid=legend)
    return save_figure(fig, png_path, rows, provenance, **meta)


def correlation_bars(
    correlations: pd.DataFrame,
    png_path: str | Path,
    provenance: Provenance | None = None,
    **meta: Any,
) -> dict[str, Path]:
    """Figure 3: one bar per metric (its correlation with accuracy) with the bootstrap interval as error bar; with
    several correlation methods (a `method` column: kendall, spearman), one panel per method side by side.
    Input: the output of e3d.tables.stats.correlations_with_ci (concatenated over methods)."""
    _require(correlations, ["metric", "coefficient", "ci_low", "ci_high"], "correlation bars")
    c = correlations.reset_index(drop=True)
    methods = list(dict.fromkeys(c["method"])) if "method" in c else ["correlation"]
    n_metrics = max(len(c) // len(methods), 1)
    with matplotlib.rc_context(STYLE):
        fig = _new_figure(len(methods) * (1.2 * n_metrics + 2.5), 3.6)
        axes = np.atleast_1d(fig.subplots(1, len(methods), sharey=True))
        for ax, method in zip(axes, methods):
            rows = c[c["method"] == method] if "method" in c else c
            lower = (rows["coefficient"] - rows["ci_low"]).clip(lower=0)
            upper = (rows["ci_high"] - rows["coefficient"]).clip(lower=0)
            xs = np.arange(len(rows))
            ax.bar(xs, rows["coefficient"], yerr=np.vstack([lower, upper]), capsize=4,
                   color=[f"C{i % 10}" for i in range(len(rows))], zorder=3)
            ax.set_xticks(xs, [METRIC_NAMES.get(m, m) for m in rows["metric"]])
            ax.axhline(0, color="black", lw=0.8)
            ax.set_ylim(-1.1, 1.1)  # a correlation coefficient's whole range: bars compare across figures
            for x, v in zip(xs, rows["coefficient"]):
                if not np.isfinite(v):  # e.g. every model at the same accuracy: say so rather than draw nothing
                    ax.annotate("undefined", (x, 0), ha="center", va="bottom", fontsize=7, color="0.4")
            target = rows["target"].iloc[0] if "target" in rows else "accuracy"
            name = CORRELATION_NAMES.get(str(method), str(method))
            # a coefficient is unitless: the axis names it and what it correlates with, not the target's unit
            ax.set_ylabel(f"{name} with {METRIC_NAMES.get(target, target)}")
            title = name
            if "n" in rows:
                title += f", n = {int(rows['n'].max())} models"
            if "confidence" in rows:
                title += f"\nerror bars: {100 * float(rows['confidence'].iloc[0]):.0f}% bootstrap interval"
            ax.set_title(title, fontsize=8)
    return save_figure(fig, png_path, c, provenance, **meta)


def spread_and_time(
    spread: pd.DataFrame,
    timing: pd.DataFrame,
    png_path: str | Path,
    group: str = "channels",
    method: str = "method",
    value: str = "value",
    seconds: str = "seconds",
    value_label: str | None = None,
    seconds_label: str | None = None,
    provenance: Provenance | None = None,
    **meta: Any,
) -> dict[str, Path]:
    """Figure 4: (a) the spread of repeated score evaluations per group (box per method, e.g. forward
    inference vs the analytic formula) and (b) the time each method took per group (grouped bars).
    `value_label` and `seconds_label` name the y axes (default: the column names, seconds in s)."""
    _require(spread, [group, method, value], "spread and time (spread)")
    _require(timing, [group, method, seconds], "spread and time (timing)")
    groups = sorted(set(spread[group]) | set(timing[group]))
    methods = list(dict.fromkeys(list(spread[method]) + list(timing[method])))
    width = 0.8 / len(methods)
    with matplotlib.rc_context(STYLE):
        fig = _new_figure(9.0, 3.6)
        ax_a, ax_b = fig.subplots(1, 2)
        for j, m in enumerate(methods):
            offset = (j - (len(methods) - 1) / 2) * width
            values = [spread.loc[(spread[group] == g) & (spread[method] == m), value].to_numpy() for g in groups]
            present = [i for i, v in enumerate(values) if len(v)]
            if present:
                box = ax_a.boxplot([values[i] for i in present], positions=[i + offset for i in present],
                                   widths=width * 0.9, patch_artist=True, manage_ticks=False)
                for patch in box["boxes"]:
                    patch.set_facecolor(f"C{j % 10}")
                    patch.set_alpha(0.6)
                ax_a.plot([], [], color=f"C{j % 10}", lw=6, alpha=0.6, label=str(m))
            secs = [timing.loc[(timing[group] == g) & (timing[method] == m), seconds].sum() for g in groups]
            ax_b.bar(np.arange(len(groups)) + offset, secs, width=width, color=f"C{j % 10}", label=str(m), zorder=3)
        for ax, title in ((ax_a, "(a) score spread"), (ax_b, "(b) time")):
            ax.set_xticks(np.arange(len(groups)), [str(g) for g in groups])
            ax.set_xlabel(group)
            ax.set_title(title, fontsize=9)
            ax.legend(fontsize=7)
        ax_a.set_ylabel(value_label or _label(value))
        positive = timing[seconds][timing[seconds] > 0]
        if len(positive) and positive.max() / positive.min() > 50:  # analytic vs forward differ by orders
            ax_b.set_yscale("log")
            ax_b.yaxis.set_major_formatter(FuncFormatter(_decimal_log_label))
            ax_b.yaxis.set_minor_formatter(NullFormatter())
        ax_b.set_ylabel(seconds_label or f"{seconds} (s)")
    behind = pd.concat(
        [spread[[group, method, value]].assign(panel="spread"),
         timing[[group, method, seconds]].rename(columns={seconds: value}).assign(panel="time_s")],
        ignore_index=True,
    )[["panel", group, method, value]]
    return save_figure(fig, png_path, behind, provenance, **meta)


def search_traces(
    trace: pd.DataFrame,
    png_path: str | Path,
    iteration: str = "iteration",
    curves: Sequence[str] = ("best", "median"),
    run: str | None = None,
    ylabel: str = "score",
    provenance: Provenance | None = None,
    **meta: Any,
) -> dict[str, Path]:
    """Search progress: best and median population score against iteration, one panel per run (e.g. per score or
    budget, each on its own y scale) when `run` names a column; every recorded iteration is a marker."""
    _require(trace, [iteration, *curves] + ([run] if run else []), "search traces")
    styles = ["-", "--", ":", "-."]
    markers = ["o", "s", "^", "D"]  # a run of one recorded iteration is one marker per curve: shapes tell them apart
    runs = list(trace.groupby(run, sort=True)) if run else [("", trace)]
    # one panel per run: runs search different scores (STEntr, Zen-score, ...) on scales of their own, and a
    # run of a few iterations would vanish beside one of thousands
    ncols = min(4, len(runs))
    nrows = -(-len(runs) // ncols)
    with matplotlib.rc_context(STYLE):
        fig = _new_figure(2.6 * ncols + 0.6, 2.2 * nrows + 0.5)
        axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
        for ax, (name, rows) in zip(axes, runs):
            rows = rows.sort_values(iteration)
            for k, curve in enumerate(curves):
                ax.plot(rows[iteration], rows[curve], ls=styles[k % len(styles)], marker=markers[k % len(markers)],
                        ms=3.5, mfc="C0" if k == 0 else "white", color="C0", label=curve)
            ax.set_title(str(name), fontsize=8)
            ax.set_xlim(left=min(0, float(rows[iteration].min())), right=max(1.0, float(rows[iteration].max())) * 1.05)
            ax.xaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
            ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
        for ax in axes[len(runs):]:
            ax.set_visible(False)
        for i, ax in enumerate(axes[:len(runs)]):
            if i + ncols >= len(runs):  # no panel below it
                ax.set_xlabel(iteration)
        for ax in axes[::ncols]:
            ax.set_ylabel(_label(ylabel))
        handles, names = axes[0].get_legend_handles_labels()
        fig.legend(handles, names, loc="outside upper center", ncols=len(curves), fontsize=7, frameon=False)
    return save_figure(fig, png_path, trace, provenance, **meta)
