"""The numbers the E3D paper reports (Tables 1, 2, 3, 4, 7, 11, 12, 13), transcribed as data.

Each table is `tableN.csv` (one tidy row per model, or per model and dataset; empty cells are the paper's
"-" / "N/A") with `tableN.yaml` beside it (caption, dataset, view protocol, FLOPs convention, units, key
columns, transcription notes). Both ship inside the package, so the paper columns of our tables never depend
on the working directory.
"""

from __future__ import annotations

import io
from functools import lru_cache
from importlib import resources
from typing import Any

import pandas as pd
import yaml

from e3d.errors import E3DError
from e3d.tables.names import normalise_model_name

PAPER_TABLES = ("table1", "table2", "table3", "table4", "table7", "table11", "table12", "table13")

# Columns that hold text; every other column must parse as a number. `text_columns` in a table's YAML adds
# table-specific ones (Table 3 prints frames as "16+64").
TEXT_COLUMNS = frozenset(
    {
        "model_name", "method", "citation", "backbone", "pretrain", "dataset", "views", "variant",
        "kernel_at_stage", "other_kernels", "kernel_space", "score", "search_devices", "device_name",
        "search_device_name",
    }
)
BOOL_COLUMNS = frozenset({"reproduced"})


class PaperTableError(E3DError, KeyError):
    """An unknown paper table, or a transcription file that does not parse."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


def _canonical(name: str | int) -> str:
    text = str(name).strip().lower().replace(" ", "")
    if text.isdigit():
        text = f"table{text}"
    if text not in PAPER_TABLES:
        raise PaperTableError(f"no transcribed paper table {name!r}; available: {', '.join(PAPER_TABLES)}")
    return text


def _read_text(filename: str) -> str:
    return resources.files(__name__).joinpath(filename).read_text(encoding="utf-8")


@lru_cache(maxsize=None)
def _meta(name: str) -> dict[str, Any]:
    meta = yaml.safe_load(_read_text(f"{name}.yaml"))
    for field in ("caption", "dataset", "flops_convention", "key", "units"):
        if field not in meta:
            raise PaperTableError(f"e3d/tables/paper/{name}.yaml: missing field {field!r}")
    return meta


def paper_table_meta(name: str | int) -> dict[str, Any]:
    """Caption, dataset, views, FLOPs convention, units and key columns of one transcribed table."""
    return dict(_meta(_canonical(name)))


@lru_cache(maxsize=None)
def _load(name: str) -> pd.DataFrame:
    meta = _meta(name)
    path = f"e3d/tables/paper/{name}.csv"
    raw = pd.read_csv(io.StringIO(_read_text(f"{name}.csv")), dtype=str, keep_default_na=False)
    text = TEXT_COLUMNS | set(meta.get("text_columns", ()))
    frame = pd.DataFrame(index=raw.index)
    for col in raw.columns:
        values = raw[col].str.strip()
        if col in BOOL_COLUMNS:
            bad = ~values.isin(["true", "false"])
            if bad.any():
                raise PaperTableError(f"{path}: column {col!r} must be true/false, row {int(bad.idxmax()) + 2}")
            frame[col] = values.eq("true")
        elif col in text:
            frame[col] = values.mask(values.eq(""), None).astype("string")
        else:
            try:
                frame[col] = pd.to_numeric(values.mask(values.eq(""), None), errors="raise").astype("float64")
            except (ValueError, TypeError) as exc:
                raise PaperTableError(f"{path}: column {col!r} is not numeric ({exc})") from exc
    if "model_name" in frame:
        frame.insert(0, "model", frame["model_name"].map(normalise_model_name).astype("string"))
    missing = [k for k in meta["key"] if k not in frame.columns]
    if missing:
        raise PaperTableError(f"{path}: key columns {missing} not in the table")
    dup = frame.duplicated(subset=list(meta["key"]), keep=False)
    if dup.any():
        raise PaperTableError(f"{path}: duplicate keys {frame.loc[dup, meta['key']].drop_duplicates().values.tolist()}")
    unknown = sorted(set(meta["units"]) - set(frame.columns))
    if unknown:
        raise PaperTableError(f"e3d/tables/paper/{name}.yaml: units for unknown columns {unknown}")
    return frame


def load_paper_table(name: str | int) -> pd.DataFrame:
    """One paper table as a DataFrame: `model` is the normalised join key (see e3d.tables.names),
    `model_name` the name as printed, numeric columns are float64 with NaN for the paper's "-" / "N/A".
    The table's metadata (paper_table_meta) is in `.attrs["paper"]`."""
    name = _canonical(name)
    frame = _load(name).copy()
    frame.attrs["paper"] = paper_table_meta(name)
    return frame
