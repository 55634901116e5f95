"""Write a result table four ways: a CSV that reads well (fixed decimals, units in headers), a Parquet beside
it with the full-precision values (units as field metadata), the same printed table as a small HTML page (what
the snakemake report shows inline) and a `<stem>.meta.json` with the caption, the column units/decimals, the
SHA-256 of the other files and the provenance block. All are written atomically through e3d.artifacts; the
JSON goes last, so its digests name the files it belongs to.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import pandas as pd
import pyarrow as pa

from e3d.artifacts import ArtifactError, Provenance, read_json, write_bytes_atomic, write_json, write_parquet
from e3d.tables.format import column_decimals, column_unit, format_for_print, header

TABLE_SCHEMA = "e3d.table"
TABLE_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class TablePaths:
    csv: Path
    parquet: Path
    meta: Path
    html: Path

    @classmethod
    def for_csv(cls, csv: str | Path) -> "TablePaths":
        csv = Path(csv)
        if csv.suffix != ".csv":
            raise ArtifactError(f"{csv}: a result table must be written to a .csv path")
        return cls(csv=csv, parquet=csv.with_suffix(".parquet"), meta=csv.with_suffix(".meta.json"),
                   html=csv.with_suffix(".html"))


def paper_data_files() -> tuple[str, ...]:
    """The transcribed paper tables as package-relative paths: they are data, but a corrected transcription
    must change the digest of every table built from it just like a code change."""
    from e3d.tables.paper import PAPER_TABLES

    return tuple(f"tables/paper/{name}.{ext}" for name in PAPER_TABLES for ext in ("csv", "yaml"))


def table_provenance(config: Any, code_modules: tuple[str, ...] = ("tables",)) -> Provenance:
    """Provenance for a result table; `config` is the config slice (and inputs' digests) that produced it."""
    from e3d.provenance import COMMON

    modules = COMMON + tuple(code_modules) + paper_data_files()
    return Provenance.make(TABLE_SCHEMA, TABLE_SCHEMA_VERSION, config, modules)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _arrow_table(frame: pd.DataFrame, units: Mapping[str, str] | None) -> pa.Table:
    table = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
    fields = []
    for field in table.schema:
        unit = column_unit(field.name, units)
        fields.append(field.with_metadata({b"unit": unit.encode()}) if unit else field)
    return table.cast(pa.schema(fields, metadata=table.schema.metadata))


_HTML_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; font-size: 13px; margin: 1em; }}
table {{ border-collapse: collapse; }}
th, td {{ border-bottom: 1px solid #ccc; padding: 2px 8px; }}
td {{ text-align: right; font-variant-numeric: tabular-nums; }}
th {{ background: #f3f3f3; }}
</style></head>
<body><p class="caption">{caption}</p>
{table}
</body></html>
"""


def _html_page(printed: pd.DataFrame, title: str, caption: str) -> str:
    """The printed table as a small standalone page: snakemake reports only offer CSVs for download but show
    HTML results inline, so the report registers this page."""
    from html import escape

    table = printed.to_html(index=False, na_rep="", border=0, classes="e3d-table", escape=True)
    return _HTML_PAGE.format(title=escape(title), caption=escape(caption), table=table)


def write_table(
    frame: pd.DataFrame,
    csv_path: str | Path,
    provenance: Provenance,
    *,
    caption: str = "",
    decimals: Mapping[str, int] | None = None,
    units: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> TablePaths:
    """Write `frame` as CSV + Parquet + meta JSON. `extra` (e.g. device, views, FLOPs convention, dataset)
    is stored in the meta JSON for captions to quote."""
    paths = TablePaths.for_csv(csv_path)
    if frame.columns.duplicated().any():
        raise ArtifactError(f"{paths.csv}: duplicate column names {frame.columns[frame.columns.duplicated()].tolist()}")
    write_parquet(paths.parquet, _arrow_table(frame, units), provenance)
    printed = format_for_print(frame, decimals, units)
    write_bytes_atomic(paths.csv, printed.to_csv(index=False, lineterminator="\n").encode())
    write_bytes_atomic(paths.html, _html_page(printed, paths.csv.stem, caption).encode())
    columns = []
    for col in frame.columns:
        entry: dict[str, Any] = {"name": col, "header": header(col, units), "dtype": str(frame[col].dtype)}
        unit = column_unit(col, units)
        if unit:
            entry["unit"] = unit
        if pd.api.types.is_float_dtype(frame[col]):
            entry["decimals"] = column_decimals(col, decimals)
        columns.append(entry)
    payload = {
        "caption": caption,
        "rows": int(len(frame)),
        "columns": columns,
        "files": {
            "csv": {"name": paths.csv.name, "sha256": _sha256(paths.csv)},
            "parquet": {"name": paths.parquet.name, "sha256": _sha256(paths.parquet)},
            "html": {"name": paths.html.name, "sha256": _sha256(paths.html)},
        },
        "extra": dict(extra or {}),
    }
    json.dumps(payload["extra"])  # fail before writing if `extra` is not JSON-able
    write_json(paths.meta, payload, provenance)
    return paths


def verify_table(csv_path: str | Path) -> dict[str, Any]:
    """Check that the CSV and Parquet are the ones the meta JSON names; return the meta document."""
    paths = TablePaths.for_csv(csv_path)
    meta = read_json(paths.meta, schema=TABLE_SCHEMA, max_version=TABLE_SCHEMA_VERSION)
    for kind, path in (("csv", paths.csv), ("parquet", paths.parquet), ("html", paths.html)):
        if not path.exists():
            raise ArtifactError(f"{path}: missing ({paths.meta.name} names it)")
        if _sha256(path) != meta["files"][kind]["sha256"]:
            raise ArtifactError(f"{path}: does not match {paths.meta.name} (written by another run?)")
    return meta
