"""The report's front page: what the run's main comparison (Table 7) shows, in words and one table, as
reStructuredText that workflow/report/workflow.rst includes.

The sentences are computed from the table, never written in advance: the ranking by mean top-1, where the
STEntr-searched model stands, whether its lead (or deficit) is larger than the spread between training seeds,
the hand-designed and random architectures at the same budget, whether the models reached a plateau, which stayed
under 3x chance, and the repeated-frame control.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from e3d.artifacts import read_parquet, write_bytes_atomic
from e3d.tables.stage_rows import PLATEAU_PP, BuildError

KIND_WORDS = {"hand-designed": "Hand-designed", "x3d": "X3D contracted to the budget",
              "random": "Random architectures of the space"}
FLOOR_X_CHANCE = 3.0  # a model under this multiple of chance has learnt too little to rank
SCORE_NAMES = {"stentr": "STEntr", "homoentr": "HomoEntr", "zen": "Zen-score", "madet": "MAE-DET",
               "forward": "forward entropy"}


def _ours(table7: pd.DataFrame) -> pd.DataFrame:
    rows = table7[table7["rows"].isin(["ours", "both"])] if "rows" in table7 else table7
    rows = rows.dropna(subset=["top1"])
    if rows.empty:
        raise BuildError("summary: Table 7 has no trained rows of ours")
    return rows.sort_values("top1", ascending=False).reset_index(drop=True)


def _label(row: pd.Series) -> str:
    entrant = str(row.get("entrant") or row["model"])
    if row.get("kind") == "searched":
        return f"{SCORE_NAMES.get(row['score'], row['score'])}-searched"
    return entrant


def _pct(value: Any) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.1f}"


def _range(row: pd.Series) -> str:
    if "top1_min" not in row or pd.isna(row.get("top1_min")):
        return _pct(row["top1"])
    return f"{row['top1']:.1f} ({row['top1_min']:.1f}-{row['top1_max']:.1f})"


def findings(table7: pd.DataFrame, chance: float | None = None) -> list[str]:
    """Plain sentences on what the comparison shows (each a paragraph of the front page)."""
    rows = _ours(table7)
    best = rows.iloc[0]
    seeds = int(rows["seeds"].max()) if "seeds" in rows else 1
    out = [f"Ranking by mean top-1 over {seeds} training seed(s): "
           + ", ".join(f"{_label(r)} {_pct(r['top1'])}%" for _, r in rows.iterrows()) + "."]
    stentr = rows[(rows.get("kind") == "searched") & (rows.get("score") == "stentr")] if "kind" in rows else rows[:0]
    if not stentr.empty:
        s = stentr.iloc[0]
        rank = int(stentr.index[0]) + 1
        others = rows.drop(index=stentr.index[0])
        rival = others.iloc[0] if not others.empty else None
        if rival is None:
            out.append("STEntr's model is the only one trained.")
        elif rank == 1:
            overlap = "top1_min" in rows and s["top1_min"] <= rival["top1_max"]
            out.append(f"The STEntr-searched model ranks first, {s['top1'] - rival['top1']:.1f} points above "
                       f"{_label(rival)}" + (": within the spread between training seeds, so this run does not "
                                              "separate them." if overlap else
                                              ", more than the spread between training seeds."))
        else:
            overlap = "top1_min" in rows and best["top1_min"] <= s["top1_max"]
            out.append(f"The STEntr-searched model does not win: it ranks {rank} of {len(rows)}, "
                       f"{best['top1'] - s['top1']:.1f} points below {_label(best)}"
                       + (" (within the spread between training seeds)." if overlap else
                          " (more than the spread between training seeds)."))
    if "kind" in rows:
        for kind in ("random", "x3d", "hand-designed"):
            part = rows[rows["kind"] == kind]
            if not part.empty:
                out.append(f"{KIND_WORDS[kind]} ({len(part)}): mean top-1 "
                           f"{', '.join(_pct(v) + '%' for v in part['top1'])} at "
                           f"{', '.join(f'{g:.4f}' for g in part['gflops'])} GFLOPs.")
    out += _plateau_and_floor(rows, chance)
    if "single_frame_top1" in rows and rows["single_frame_top1"].notna().any():
        hi = float(rows["single_frame_top1"].max())
        out.append(f"Repeated-frame control: at most {hi:.1f}% top-1 (chance "
                   f"{_pct(chance) + '%' if chance is not None else 'is 1 / classes'}): the models use motion, "
                   "not appearance." if chance is None or hi < 2 * chance else
                   f"Repeated-frame control: up to {hi:.1f}% top-1, well above chance ({_pct(chance)}%): some model "
                   "reads the class from single frames.")
    return out


def _plateau_and_floor(rows: pd.DataFrame, chance: float | None) -> list[str]:
    """Whether the models stopped improving (training top-1 over the last fifth of the epochs, PLATEAU_PP) and which
    stayed under FLOOR_X_CHANCE x chance: what the ranking can and cannot be read as."""
    out = []
    if "train_top1_last_fifth_pp" in rows and rows["train_top1_last_fifth_pp"].notna().any():
        moved = rows.dropna(subset=["train_top1_last_fifth_pp"])
        moving = moved[moved["train_top1_last_fifth_pp"].abs() >= PLATEAU_PP]
        if moving.empty:
            out.append(f"Every model reached a plateau: its training top-1 moved under {PLATEAU_PP:g} points over the "
                       "last fifth of the epochs (the last fifth's mean against the fifth's before).")
        else:
            out.append(f"Not at a plateau: the training top-1 of {len(moving)} of {len(moved)} models still moved "
                       f"{PLATEAU_PP:g} points or more over the last fifth of the epochs (the last fifth's mean against "
                       "the fifth's before: "
                       + ", ".join(f"{_label(r)} {r['train_top1_last_fifth_pp']:+.1f}" for _, r in moving.iterrows())
                       + "), so the ranking is where each network got with this schedule, not where it would end.")
    if chance is not None:
        low = rows[rows["top1"] < FLOOR_X_CHANCE * chance]
        if not low.empty:
            out.append(f"Under {FLOOR_X_CHANCE:g}x chance ({_pct(FLOOR_X_CHANCE * chance)}%): "
                       + ", ".join(f"{_label(r)} {_pct(r['top1'])}%" for _, r in low.iterrows()) + ".")
    return out


def _rst_table(rows: pd.DataFrame) -> str:
    header = ["model", "kind", "GFLOPs", "params (M)", "STEntr", "top-1 % mean (range)", "top-5 %",
              "repeated frame top-1 %", "training top-1 %, last epoch"]
    lines = [".. list-table:: Main comparison (Table 7): every model at the same budget, trained with one schedule",
             "   :header-rows: 1", ""]

    def row(cells: list[str]) -> None:
        lines.append("   * - " + cells[0])
        lines.extend("     - " + c for c in cells[1:])

    row(header)
    for _, r in rows.iterrows():
        row([_label(r), str(r.get("kind", "")), f"{r['gflops']:.4f}", f"{r['params_m']:.2f}",
             _pct(r.get("stentr", float("nan"))), _range(r), _pct(r.get("top5")),
             _pct(r.get("single_frame_top1", float("nan"))), _pct(r.get("train_top1", float("nan")))])
    return "\n".join(lines)


def summary_rst(table7: pd.DataFrame, dataset: str, chance: float | None = None) -> str:
    rows = _ours(table7)
    parts = [f"What this run shows ({dataset})", "-" * (len(dataset) + 22), ""]
    parts += [p + "\n" for p in findings(table7, chance)]
    parts += [_rst_table(rows), ""]
    return "\n".join(parts) + "\n"


def write_summary(table7_parquet: str | Path, out: str | Path, dataset: str, chance: float | None = None) -> Path:
    text = summary_rst(read_parquet(table7_parquet), dataset, chance)
    return write_bytes_atomic(Path(out), text.encode())
