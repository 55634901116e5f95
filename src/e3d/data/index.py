"""The video index: one row per annotated video, with metadata or the reason it cannot be used.

Columns (the contract other stages read): video_id, path (relative to the dataset root), label (int,
-1 if unlabelled), label_name, split, num_frames, fps, duration, width, height, codec, status
("ok"/"skipped"), reason ("" when ok). A reason starts with a short category ("missing file",
"duplicate id", ...) optionally followed by ": detail"; the summary counts videos by category.
"""

from __future__ import annotations

import os
import unicodedata
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd

from e3d.data.adapters import Listing, read_listing
from e3d.data.probe import Probe, probe
from e3d.errors import E3DError
from e3d.progress import Progress

INDEX_SCHEMA = "e3d.video_index"
INDEX_VERSION = 1
SUMMARY_SCHEMA = "e3d.video_index_summary"
CLASS_NAMES_KEY = b"e3d.class_names"
ROOT_KEY = b"e3d.root"
COLUMNS = ("video_id", "path", "label", "label_name", "split", "num_frames", "fps", "duration", "width", "height",
           "codec", "status", "reason")


class NoUsableVideosError(E3DError):
    """Every video of a dataset was skipped."""


def reason_category(reason: str) -> str:
    return reason.split(":", 1)[0].strip()


def _escapes_root(rel: str) -> bool:
    if os.path.isabs(rel) or rel.startswith(("\\", "/")):
        return True
    norm = os.path.normpath(rel.replace("\\", "/"))
    return norm == ".." or norm.startswith("../")


def build_index(fmt: str, root: Path, annotations: Path | None = None, split_number: int = 1,
                classes: Path | None = None, min_frames: int = 8, threads: int = 1,
                progress: bool = True) -> tuple[pd.DataFrame, list[str]]:
    """Read a dataset's annotations, probe every video and return (index, class names)."""
    root = Path(root)
    listing = read_listing(fmt, root, annotations, split_number, classes)
    return index_listing(listing, root, min_frames=min_frames, threads=threads, progress=progress), listing.class_names


def index_listing(listing: Listing, root: Path, min_frames: int = 8, threads: int = 1,
                  progress: bool = True) -> pd.DataFrame:
    label_of = {name: i for i, name in enumerate(listing.class_names)}
    rows: list[dict[str, Any]] = []
    to_probe: list[int] = []
    seen: set[str] = set()
    for e in listing.entries:
        # NFC so that the same name typed on macOS (NFD) and Linux is one id and one path.
        vid = unicodedata.normalize("NFC", e.video_id)
        rel = unicodedata.normalize("NFC", e.path).replace("\\", "/")
        row = {"video_id": vid, "path": rel, "label": -1, "label_name": e.label_name or "", "split": e.split,
               "num_frames": 0, "fps": 0.0, "duration": 0.0, "width": 0, "height": 0, "codec": "",
               "status": "ok", "reason": ""}
        if e.label_name is not None:
            row["label"] = label_of.get(e.label_name, -1)
        if vid in seen:
            row["reason"] = f"duplicate id: {vid} appears earlier in the annotations"
        elif _escapes_root(rel):
            row["reason"] = f"path escapes dataset root: {rel}"
        elif e.label_name is not None and row["label"] < 0:
            row["reason"] = f"unknown label: {e.label_name!r} is not one of the {len(listing.class_names)} classes"
        seen.add(vid)
        rows.append(row)
        if not row["reason"]:
            to_probe.append(len(rows) - 1)

    def work(i: int) -> tuple[int, Probe]:
        return i, probe(root / _fs_path(root, rows[i]["path"]))

    # Probing is I/O and native-library bound (PyAV releases the GIL): threads suffice.
    bar = Progress(total=len(to_probe), desc="index", unit="videos") if progress else None
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        for i, result in pool.map(work, to_probe):
            row = rows[i]
            row.update(num_frames=result.num_frames, fps=result.fps, duration=result.duration,
                       width=result.width, height=result.height, codec=result.codec, reason=result.reason)
            if result.ok and result.num_frames < min_frames:
                row["reason"] = f"shorter than one clip: {result.num_frames} frames < {min_frames}"
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    for row in rows:
        row["status"] = "skipped" if row["reason"] else "ok"
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    return df.astype({"video_id": str, "path": str, "label": "int64", "label_name": str, "split": str,
                      "num_frames": "int64", "fps": "float64", "duration": "float64", "width": "int64",
                      "height": "int64", "codec": str, "status": str, "reason": str})


def _fs_path(root: Path, rel: str) -> str:
    """The on-disk spelling of `rel`: NFC normalisation must not make an NFD-named file look missing."""
    if (root / rel).exists():
        return rel
    nfd = unicodedata.normalize("NFD", rel)
    return nfd if (root / nfd).exists() else rel


def summarise(df: pd.DataFrame, class_names: list[str]) -> dict[str, Any]:
    ok = df[df.status == "ok"]
    by_reason = Counter(reason_category(r) for r in df.loc[df.status == "skipped", "reason"])
    return {
        "num_videos": int(len(df)),
        "num_ok": int(len(ok)),
        "num_skipped": int(len(df) - len(ok)),
        "skipped_by_reason": dict(sorted(by_reason.items())),
        "ok_by_split": {k: int(v) for k, v in sorted(Counter(ok.split).items())},
        "num_classes": len(class_names),
        "class_names": list(class_names),
        "num_frames_ok": int(ok.num_frames.sum()),
    }


def format_summary(summary: dict[str, Any], name: str) -> str:
    lines = [f"index {name}: {summary['num_ok']} of {summary['num_videos']} videos usable "
             f"({summary['num_skipped']} skipped), {summary['num_classes']} classes, "
             f"splits {summary['ok_by_split']}"]
    for reason, n in summary["skipped_by_reason"].items():
        lines.append(f"  skipped {n:6d}  {reason}")
    return "\n".join(lines)


def check_usable(df: pd.DataFrame, summary: dict[str, Any], name: str) -> None:
    if summary["num_ok"] == 0:
        if summary["num_videos"] == 0:
            raise NoUsableVideosError(f"dataset {name}: the annotations list no videos")
        reasons = ", ".join(f"{r}: {n}" for r, n in summary["skipped_by_reason"].items())
        example = df.iloc[0]
        raise NoUsableVideosError(
            f"dataset {name}: none of its {summary['num_videos']} videos is usable ({reasons}); "
            f"e.g. {example.path}: {example.reason}")


def write_index(path: Path, df: pd.DataFrame, class_names: list[str], root: Path, provenance) -> Path:
    """index.parquet, with the class list and the dataset root in the file metadata (for `e3d extract`)."""
    import json

    import pyarrow as pa

    from e3d.artifacts import write_parquet

    table = pa.Table.from_pandas(df, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                           CLASS_NAMES_KEY: json.dumps(list(class_names)).encode(),
                                           ROOT_KEY: str(root).encode()})
    return write_parquet(path, table, provenance)


def read_index(path: Path) -> tuple[pd.DataFrame, list[str], Path]:
    """(index, class names, dataset root) of an index.parquet."""
    import json

    import pyarrow.parquet as pq

    from e3d.artifacts import read_parquet

    df = read_parquet(path, schema=INDEX_SCHEMA, max_version=INDEX_VERSION)
    meta = pq.read_schema(path).metadata or {}
    class_names = json.loads(meta.get(CLASS_NAMES_KEY, b"[]"))
    root = Path(meta.get(ROOT_KEY, b".").decode())
    return df, class_names, root
