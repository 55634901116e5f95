"""The paper's figures from our data: each PNG is written atomically with the CSV of the numbers behind it
(same stem) and, when given provenance, a `<stem>.meta.json` naming both files by digest.

Figures are drawn on a bare matplotlib Figure with the Agg canvas (no pyplot, no global state, no display),
with a fixed style and no timestamp in the PNG, so the same data gives the same bytes.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any, Mapping, Sequence

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter, ScalarFormatter

from e3d.artifacts import Provenance, write_bytes_atomic, write_json
from e3d.errors import E3DError

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
    fig = Figure(figsize=(width, height), layout="constrained")
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


def _annotate(ax, xs, ys, labels) -> None:
    for x, y, text in zip(xs, ys, labels):
        ax.annotate(str(text), (x, y), xytext=(4, 3), textcoords="offset points", fontsize=7)


def accuracy_vs_scores(
    data: pd.DataFrame,
    png_path: str | Path,
    scores: Sequence[str] = ("stentr", "homoentr"),
    accuracy: str = "top1",
    label: str = "model",
    provenance: Provenance | None = None,
    **meta: Any,
) -> dict[str, Path]:
    """Figure 2: accuracy against each score, one panel per score, every point labelled with its model.
    Each panel's title gives Kendall's tau of the points shown."""
    from scipy.stats import kendalltau

    _require(data, [accuracy, label, *scores], "accuracy vs scores")
    with matplotlib.rc_context(STYLE):
        fig = _new_figure(4.2 * len(scores), 3.6)
        axes = fig.subplots(1, len(scores), squeeze=False)[0]
        for ax, score in zip(axes, scores):
            rows = data[[score, accuracy, label]].dropna()
            ax.scatter(rows[score], rows[accuracy], s=22, color="C0", zorder=3)
            _annotate(ax, rows[score], rows[accuracy], rows[label])
            tau = kendalltau(rows[score], rows[accuracy])[0] if len(rows) >= 2 else float("nan")
            ax.set_title(f"{_label(accuracy)} vs {_label(score)} (Kendall tau {tau:.2f})", fontsize=9)
            ax.set_xlabel(_label(score))
            ax.set_ylabel(_label(accuracy))
    return save_figure(fig, png_path, data[[label, accuracy, *scores]], provenance, **meta)


def accuracy_vs_gflops(
    data: pd.DataFrame,
    png_path: str | Path,
    gflops: str = "gflops",
    accuracy: str = "top1",
    label: str = "model",
    family: str | None = "family",
    log_x: bool = True,
    provenance: Provenance | None = None,
    **meta: Any,
) -> dict[str, Path]:
    """Figure 5: accuracy/complexity trade-off; models of one family (e.g. E3D-S/M/L, or ours vs paper) are
    joined by a line in order of GFLOPs."""
    columns = [gflops, accuracy, label] + ([family] if family else [])
    _require(data, columns, "accuracy vs GFLOPs")
    rows = data[columns].dropna(subset=[gflops, accuracy])
    with matplotlib.rc_context(STYLE):
        fig = _new_figure(5.5, 4.0)
        ax = fig.subplots()
        groups = rows.groupby(family, sort=True) if family else [("", rows)]
        for i, (name, group) in enumerate(groups):
            group = group.sort_values(gflops)
            ax.plot(group[gflops], group[accuracy], marker="o", ms=4, color=f"C{i % 10}", label=str(name) or None)
            _annotate(ax, group[gflops], group[accuracy], group[label])
        if log_x:
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(ScalarFormatter())
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(_label(gflops))
        ax.set_ylabel(_label(accuracy))
        if family:
            ax.legend(fontsize=7, loc="lower right")
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
            ax.set_xticks(xs, [_label(m) for m in rows["metric"]])
            ax.axhline(0, color="black", lw=0.8)
            for x, v in zip(xs, rows["coefficient"]):
                if not np.isfinite(v):  # e.g. every model at the same accuracy: say so rather than draw nothing
                    ax.annotate("undefined", (x, 0), ha="center", va="bottom", fontsize=7, color="0.4")
            target = rows["target"].iloc[0] if "target" in rows else "accuracy"
            ax.set_ylabel(f"{method} correlation with {_label(target)}")
            if "confidence" in rows:
                ax.set_title(f"{method}; error bars: {100 * float(rows['confidence'].iloc[0]):.0f}% bootstrap "
                             "interval", fontsize=8)
    return save_figure(fig, png_path, c, provenance, **meta)


def spread_and_time(
    spread: pd.DataFrame,
    timing: pd.DataFrame,
    png_path: str | Path,
    group: str = "channels",
    method: str = "method",
    value: str = "value",
    seconds: str = "seconds",
    provenance: Provenance | None = None,
    **meta: Any,
) -> dict[str, Path]:
    """Figure 4: (a) the spread of repeated score evaluations per group (box per method, e.g. forward
    inference vs the analytic formula) and (b) the time each method took per group (grouped bars)."""
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
        ax_a.set_ylabel(value)
        positive = timing[seconds][timing[seconds] > 0]
        if len(positive) and positive.max() / positive.min() > 50:  # analytic vs forward differ by orders
            ax_b.set_yscale("log")
        ax_b.set_ylabel(f"{seconds} (s)")
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
    """Search progress: best and median population score against iteration, one colour per run (e.g. per
    score or budget) when `run` names a column."""
    _require(trace, [iteration, *curves] + ([run] if run else []), "search traces")
    styles = ["-", "--", ":", "-."]
    with matplotlib.rc_context(STYLE):
        fig = _new_figure(5.5, 3.8)
        ax = fig.subplots()
        runs = trace.groupby(run, sort=True) if run else [("", trace)]
        for i, (name, rows) in enumerate(runs):
            rows = rows.sort_values(iteration)
            for k, curve in enumerate(curves):
                tag = f"{name} {curve}".strip()
                ax.plot(rows[iteration], rows[curve], ls=styles[k % len(styles)], color=f"C{i % 10}", label=tag)
        ax.set_xlabel(iteration)
        ax.set_ylabel(_label(ylabel))
        ax.legend(fontsize=7)
    return save_figure(fig, png_path, trace, provenance, **meta)
