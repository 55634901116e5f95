"""Our measured rows beside the paper's: one DataFrame with `<metric>`, `<metric>_paper` and `<metric>_diff`.

The join is on key columns (model, and where a table has them dataset/views/...). Model names are brought to
one normal form on both sides first (e3d.tables.names), so "E3D-S" from a run config meets "E3D-S" as the paper
printed it. Row order: the paper's rows in the paper's order, then rows only we have, in our order, so a
printed table reads like the paper's.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import pandas as pd
from pandas.api import types as ptypes

from e3d.errors import E3DError
from e3d.tables.names import normalise_model_name

PAPER_SUFFIX = "_paper"
DIFF_SUFFIX = "_diff"
PRESENCE_COLUMN = "rows"  # "both", "ours" or "paper": where the row's values come from
MODEL_KEYS = ("model",)


class CompareError(E3DError, ValueError):
    """Rows that cannot be joined: missing or duplicate keys, clashing column names."""


def _is_number(series: pd.Series) -> bool:
    return ptypes.is_numeric_dtype(series) and not ptypes.is_bool_dtype(series)


def _prepare(frame: pd.DataFrame, on: Sequence[str], side: str) -> pd.DataFrame:
    missing = [k for k in on if k not in frame.columns]
    if missing:
        raise CompareError(f"{side} rows lack key column(s) {missing}; they have {list(frame.columns)}")
    frame = frame.reset_index(drop=True).copy()
    for key in on:
        if frame[key].isna().any():
            raise CompareError(f"{side} rows have an empty {key!r} key in row(s) {frame.index[frame[key].isna()].tolist()}")
        if key in MODEL_KEYS:
            try:
                frame[key] = frame[key].map(normalise_model_name)
            except ValueError as exc:
                raise CompareError(f"{side} rows: {exc}") from exc
    dup = frame.duplicated(subset=list(on), keep=False)
    if dup.any():
        keys = frame.loc[dup, list(on)].drop_duplicates().to_dict("records")
        raise CompareError(f"{side} rows have duplicate keys {keys}; aggregate them before comparing")
    return frame


def compare_with_paper(
    ours: pd.DataFrame,
    paper: pd.DataFrame,
    on: Sequence[str] = ("model",),
    paper_columns: Iterable[str] | None = None,
    how: str = "outer",
) -> pd.DataFrame:
    """Join our rows to a paper table.

    For every non-key column `c` of `ours`: `c` (ours), then `c_paper` and, where both are numeric, `c_diff`
    (ours minus paper) if the paper has `c`. Paper columns ours lacks follow as `<name>_paper`. `rows` says
    whether a row is in both, only ours or only the paper's. `how`: "outer" (all rows), "left" (our rows only),
    "right" (the paper's rows only), "inner".
    """
    on = list(on)
    if not on:
        raise CompareError("compare_with_paper needs at least one key column")
    if how not in ("outer", "left", "right", "inner"):
        raise CompareError(f"how must be outer, left, right or inner, not {how!r}")
    ours_p = _prepare(ours, on, "our")
    paper_p = _prepare(paper, on, "paper")
    if paper_columns is None:
        paper_columns = [c for c in paper_p.columns if c not in on]
    else:
        paper_columns = list(paper_columns)
        unknown = [c for c in paper_columns if c not in paper_p.columns]
        if unknown:
            raise CompareError(f"paper table has no column(s) {unknown}")
    clash = [c for c in ours_p.columns if c.endswith((PAPER_SUFFIX, DIFF_SUFFIX)) or c == PRESENCE_COLUMN]
    if clash:
        raise CompareError(f"our rows have reserved column name(s) {clash}")

    for key in on:  # a join needs one dtype per key: text unless both sides are numbers
        if not (_is_number(ours_p[key]) and _is_number(paper_p[key])):
            ours_p[key] = ours_p[key].astype("string")
            paper_p[key] = paper_p[key].astype("string")

    right = paper_p[on + paper_columns].rename(columns={c: c + PAPER_SUFFIX for c in paper_columns})
    right["_paper_order"] = range(len(right))
    left = ours_p.assign(_our_order=range(len(ours_p)))
    merged = left.merge(right, on=on, how=how, indicator=PRESENCE_COLUMN)
    merged[PRESENCE_COLUMN] = (
        merged[PRESENCE_COLUMN].map({"both": "both", "left_only": "ours", "right_only": "paper"}).astype("string")
    )
    merged = merged.sort_values(["_paper_order", "_our_order"], na_position="last", kind="stable")

    columns = list(on)
    for col in ours_p.columns:
        if col in on:
            continue
        columns.append(col)
        pcol = col + PAPER_SUFFIX
        if pcol in merged.columns:
            columns.append(pcol)
            if _is_number(merged[col]) and _is_number(merged[pcol]):
                merged[col + DIFF_SUFFIX] = merged[col] - merged[pcol]
                columns.append(col + DIFF_SUFFIX)
    columns += [c + PAPER_SUFFIX for c in paper_columns if c + PAPER_SUFFIX not in columns]
    columns.append(PRESENCE_COLUMN)
    return merged[columns].reset_index(drop=True)
