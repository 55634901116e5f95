"""The one artifact writer: versioned, provenance-stamped, atomically written Parquet and JSON.

Every artifact carries `schema` (its kind), `schema_version` and provenance: the package version,
the digest of the config slice that produced it, the digest of the code it depends on and the
creation time. Files are written to a temporary name in the same directory, fsynced, then renamed,
so a half-written artifact never appears under its final name, also when the writer is killed.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator

import e3d
from e3d.errors import E3DError
from e3d.provenance import code_digest, config_digest

PROVENANCE_KEY = b"e3d.provenance"


class ArtifactError(E3DError, RuntimeError):
    """An artifact that is missing, unreadable, or of the wrong kind or version."""


@dataclass(frozen=True)
class Provenance:
    schema: str
    schema_version: int
    package_version: str
    config_digest: str
    code_digest: str
    created_at: str

    @classmethod
    def make(cls, schema: str, schema_version: int, config: Any, code_modules: tuple[str, ...]) -> "Provenance":
        return cls(
            schema=schema,
            schema_version=schema_version,
            package_version=e3d.__version__,
            config_digest=config_digest(config),
            code_digest=code_digest(*code_modules) if code_modules else "",
            created_at=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@contextlib.contextmanager
def atomic_path(final: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `final`; rename it onto `final` only if the block succeeds."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_json(path: str | Path, payload: dict[str, Any], provenance: Provenance) -> Path:
    """Write `payload` plus a `provenance` block as pretty JSON, atomically."""
    if "provenance" in payload:
        raise ValueError("payload must not carry its own 'provenance' key")
    doc = dict(payload)
    doc["provenance"] = provenance.to_dict()
    text = json.dumps(doc, indent=2, sort_keys=True, default=_json_default) + "\n"
    return write_bytes_atomic(path, text.encode())


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):  # numpy scalars
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def read_json(path: str | Path, schema: str | None = None, max_version: int | None = None) -> dict[str, Any]:
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ArtifactError(f"{path}: artifact does not exist") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path}: not a readable JSON artifact ({exc})") from exc
    _check(path, doc.get("provenance"), schema, max_version)
    return doc


def write_parquet(path: str | Path, table: Any, provenance: Provenance) -> Path:
    """Write a pandas DataFrame or pyarrow Table with provenance in the Parquet key-value metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not isinstance(table, pa.Table):
        table = pa.Table.from_pandas(table, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[PROVENANCE_KEY] = json.dumps(provenance.to_dict()).encode()
    table = table.replace_schema_metadata(meta)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return Path(path)


def read_parquet_provenance(path: str | Path) -> dict[str, Any]:
    import pyarrow.parquet as pq

    try:
        meta = pq.read_schema(path).metadata or {}
    except FileNotFoundError as exc:
        raise ArtifactError(f"{path}: artifact does not exist") from exc
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise ArtifactError(f"{path}: not a readable Parquet artifact ({exc})") from exc
    if PROVENANCE_KEY not in meta:
        raise ArtifactError(f"{path}: Parquet file carries no e3d provenance")
    return json.loads(meta[PROVENANCE_KEY])


def read_parquet(path: str | Path, schema: str | None = None, max_version: int | None = None, **kwargs: Any):
    """Read a Parquet artifact into pandas after checking its kind and version."""
    import pandas as pd

    _check(Path(path), read_parquet_provenance(path), schema, max_version)
    return pd.read_parquet(path, **kwargs)


def _check(path: Path, prov: Any, schema: str | None, max_version: int | None) -> None:
    if not isinstance(prov, dict):
        raise ArtifactError(f"{path}: artifact carries no provenance block")
    if schema is not None and prov.get("schema") != schema:
        raise ArtifactError(f"{path}: expected a {schema!r} artifact, found {prov.get('schema')!r}")
    if max_version is not None and int(prov.get("schema_version", 0)) > max_version:
        raise ArtifactError(
            f"{path}: {prov.get('schema')} schema version {prov.get('schema_version')} is newer than "
            f"this e3d reads ({max_version}); upgrade e3d"
        )
