"""How tables read when printed: fixed decimals per column and units in the headers.

Units and decimals are looked up by a column's base name, so `top1`, `top1_paper` and `top1_diff` share them
(a difference of percentages is in percentage points). Callers override per column.
"""

from __future__ import annotations

import math
from typing import Mapping

import pandas as pd
from pandas.api import types as ptypes

from e3d.tables.compare import DIFF_SUFFIX, PAPER_SUFFIX

UNITS: dict[str, str] = {
    "top1": "%", "top5": "%", "gflops": "GFLOPs", "gflops_total": "GFLOPs", "params_m": "M",
    "latency_ms": "ms", "throughput_clips_s": "clips/s", "energy_kwh": "kWh", "search_time_h": "h",
    "design_cost_h": "h", "wall_time_s": "s", "cpu_time_s": "s", "device_power_w": "W", "stentr": "nats",
    "homoentr": "nats", "crop_px": "px", "frames": "frames", "train_top1": "%",
}
DECIMALS: dict[str, int] = {
    "top1": 2, "top5": 2, "gflops": 2, "gflops_total": 2, "params_m": 2, "latency_ms": 2,
    "throughput_clips_s": 1, "energy_kwh": 3, "search_time_h": 2, "design_cost_h": 2, "wall_time_s": 1,
    "cpu_time_s": 1, "device_power_w": 0, "stentr": 2, "homoentr": 2, "crop_px": 0, "frames": 0, "train_top1": 1,
}
DEFAULT_DECIMALS = 3
# Our columns whose values span orders of magnitude (GFLOPs: the paper's 0.2-600 and the CPU-scale models' 0.015):
# such a column keeps one number of decimals, widened until its smallest non-zero value shows two significant
# digits (the `_paper` and `_diff` columns keep theirs).
WIDENED = ("gflops", "gflops_total")


def base_name(column: str) -> str:
    for suffix in (PAPER_SUFFIX, DIFF_SUFFIX):
        if column.endswith(suffix):
            return column[: -len(suffix)]
    return column


def column_unit(column: str, units: Mapping[str, str] | None = None) -> str | None:
    units = units or {}
    if column in units:
        return units[column]
    unit = units.get(base_name(column), UNITS.get(base_name(column)))
    if unit == "%" and column.endswith(DIFF_SUFFIX):
        return "pp"
    return unit


def column_decimals(column: str, decimals: Mapping[str, int] | None = None) -> int:
    decimals = decimals or {}
    if column in decimals:
        return int(decimals[column])
    return int(decimals.get(base_name(column), DECIMALS.get(base_name(column), DEFAULT_DECIMALS)))


def header(column: str, units: Mapping[str, str] | None = None) -> str:
    unit = column_unit(column, units)
    return f"{column} [{unit}]" if unit else column


def _fmt_float(value: object, places: int) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = f"{float(value):.{places}f}"
    return "0" + text[2:] if text.startswith("-0") and float(text) == 0 else text  # no "-0.00"


def _significant_places(series: pd.Series, digits: int = 2) -> int:
    """Decimals that show the smallest non-zero magnitude in `series` with `digits` significant digits."""
    values = series.abs()
    values = values[(values > 0) & values.notna()]
    if values.empty:
        return 0
    return max(0, digits - 1 - int(math.floor(math.log10(float(values.min())))))


def format_for_print(
    frame: pd.DataFrame, decimals: Mapping[str, int] | None = None, units: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """A copy of `frame` as strings: floats with fixed decimals, empty cells for missing values, and
    headers `name [unit]` where a unit is known."""
    out = pd.DataFrame(index=frame.index)
    for col in frame.columns:
        series = frame[col]
        if ptypes.is_bool_dtype(series):
            text = series.map(lambda v: "" if v is pd.NA or v is None else ("true" if v else "false"))
        elif ptypes.is_integer_dtype(series):
            text = series.map(lambda v: "" if v is pd.NA else str(int(v)))
        elif ptypes.is_float_dtype(series):
            places = column_decimals(col, decimals)
            if col in WIDENED and not (decimals and col in decimals):
                places = max(places, _significant_places(series))
            text = series.map(lambda v, p=places: _fmt_float(v, p))
        else:
            text = series.map(lambda v: "" if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)) else str(v))
        out[header(col, units)] = text.astype(object)
    return out
