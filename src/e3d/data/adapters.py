"""Dataset adapters: read each dataset's native annotation layout into one list of entries.

An adapter only reads annotations and finds paths; it never opens videos (the index probes them).
Each returns a `Listing`: the class names (their position is the integer label) and one `Entry`
per annotated video. An entry's `label_name` is None for unlabelled videos (test lists) and may be a
name that is not a class (recorded as "unknown label" by the index).

Layouts (see README "Real data"):
- kinetics400: CVDF CSVs (label,youtube_id,time_start,time_end,split) or PySlowFast "path label" lists.
- sthv1: {root}/{id}/00001.jpg frame folders; "id;label" CSVs plus a label list.
- sthv2: {root}/{id}.webm; labels.json (name -> index), train.json / validation.json / test.json.
- ucf101: classInd.txt, trainlist0N.txt ("Class/v_x.avi 1"), testlist0N.txt ("Class/v_x.avi").
- hmdb51: {class}_test_splitN.txt ("video.avi 1|2|0"; 1 train, 2 test, 0 not in this split).
- synthetic: the kinetics400 CVDF layout written by `e3d synth`, with classes.txt fixing the label order.
"""

from __future__ import annotations

import csv
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from e3d.errors import UserError

VIDEO_SUFFIXES = (".mp4", ".webm", ".mkv", ".avi", ".mov", ".m4v")
FORMATS = ("synthetic", "kinetics400", "sthv1", "sthv2", "ucf101", "hmdb51")
_SPLIT_ALIASES = {"train": "train", "training": "train", "val": "val", "valid": "val", "validate": "val",
                  "validation": "val", "test": "test", "testing": "test"}


class AnnotationError(UserError):
    """Annotations that are missing or not in the expected layout."""


@dataclass
class Entry:
    video_id: str
    path: str  # relative to the dataset root, as the annotations give it (may try to escape the root)
    label_name: str | None
    split: str


@dataclass
class Listing:
    class_names: list[str]
    entries: list[Entry] = field(default_factory=list)


def normalise_split(value: str, where: str) -> str:
    split = _SPLIT_ALIASES.get(value.strip().lower())
    if split is None:
        raise AnnotationError(f"{where}: unknown split {value!r} (expected train, val/validate or test)")
    return split


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        raise AnnotationError(f"{path}: {what} not found")
    return path


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise AnnotationError(f"{path}: annotation file is not UTF-8 text ({exc.reason})") from exc
    except OSError as exc:
        raise AnnotationError(f"{path}: cannot read annotation file ({exc.strerror or exc})") from exc


def _lines(path: Path) -> list[str]:
    return [ln.strip() for ln in _read_text(path).splitlines() if ln.strip()]


def _annotation_files(annotations: Path, names: tuple[str, ...]) -> list[Path]:
    """Either the one given file, or those of `names` that exist in the given directory."""
    if annotations.is_file():
        return [annotations]
    _require(annotations, "annotation directory")
    files = [annotations / n for n in names if (annotations / n).is_file()]
    if not files:
        raise AnnotationError(f"{annotations}: none of {', '.join(names)} found")
    return files


def _stem_map(root: Path) -> dict[str, str]:
    """video file stem -> path relative to root (walks the tree once; the first path in sorted order wins)."""
    found: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for fname in sorted(filenames):
            stem, suffix = os.path.splitext(fname)
            if suffix.lower() in VIDEO_SUFFIXES and stem not in found:
                found[stem] = os.path.relpath(os.path.join(dirpath, fname), root)
    return found


# ---------------------------------------------------------------- Kinetics-400 (and synthetic)


def kinetics400(root: Path, annotations: Path | None, split_number: int = 1, classes: Path | None = None) -> Listing:
    ann = annotations if annotations is not None else root / "annotations"
    files = _annotation_files(ann, ("train.csv", "validate.csv", "val.csv", "test.csv"))
    stems = _stem_map(root)
    class_names = _read_class_list(classes) if classes else None
    raw: list[tuple[str, str, str | None, str]] = []  # (video_id, path, label_name, split)
    numeric: list[tuple[str, str, str | None, str]] = []  # PySlowFast lists: the label is a class index
    for f in files:
        first = _lines(f)[:1]
        if first and "youtube_id" in first[0]:
            raw.extend(_kinetics_cvdf(f, stems))
        else:
            numeric.extend(_path_label_list(f))
    if class_names is None:
        class_names = sorted({r[2] for r in raw if r[2] is not None})
        if numeric and not raw:
            # no names anywhere: the classes are the indices themselves, ordered numerically
            top = max((int(r[2]) for r in numeric if r[2] is not None), default=-1)
            class_names = [str(i) for i in range(top + 1)]
    for vid, rel, label, split in numeric:
        if label is not None and int(label) < len(class_names):
            label = class_names[int(label)]
        raw.append((vid, rel, label, split))  # an index past the class list stays and is "unknown label"
    return Listing(class_names, [Entry(*r) for r in raw])


def _kinetics_cvdf(path: Path, stems: dict[str, str]) -> list[tuple[str, str, str | None, str]]:
    rows = list(csv.DictReader(_read_text(path).splitlines()))
    out = []
    for lineno, row in enumerate(rows, start=2):
        where = f"{path}:{lineno}"
        try:
            yid = row["youtube_id"].strip()
            start, end = int(float(row["time_start"])), int(float(row["time_end"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise AnnotationError(f"{where}: malformed Kinetics row {row!r} ({exc})") from exc
        split = normalise_split(row.get("split") or _split_from_filename(path), where)
        label = (row.get("label") or "").strip() or None
        vid = f"{yid}_{start:06d}_{end:06d}"
        # Mirrors name clips either {id}_{start}_{end}.mp4 or just {id}.mp4, in any sub-folder.
        rel = stems.get(vid) or stems.get(yid) or (f"{split}/{label}/{vid}.mp4" if label else f"{split}/{vid}.mp4")
        out.append((vid, rel, label, split))
    return out


def _split_from_filename(path: Path) -> str:
    stem = path.stem.lower()
    for key in _SPLIT_ALIASES:
        if key in stem:
            return key
    raise AnnotationError(f"{path}: cannot tell the split from the file name (train/val/test)")


def _path_label_list(path: Path) -> list[tuple[str, str, str | None, str]]:
    """PySlowFast lists: one "relative/path.mp4 label" per line (label an integer)."""
    split = normalise_split(_split_from_filename(path), str(path))
    out = []
    for lineno, line in enumerate(_lines(path), start=1):
        parts = line.rsplit(maxsplit=1)
        if len(parts) != 2 or not re.fullmatch(r"-?\d+", parts[1]):
            raise AnnotationError(f"{path}:{lineno}: expected 'path label' with an integer label, got {line!r}")
        rel, label = parts
        label_name = None if int(label) < 0 else str(int(label))
        out.append((_id_from_path(rel), rel, label_name, split))
    return out


def _id_from_path(rel: str) -> str:
    return os.path.splitext(os.path.basename(rel))[0]


def _read_class_list(path: Path) -> list[str]:
    """A class list: one name per line, a JSON {name: index} map, or a "index name"/"name,index" table."""
    _require(path, "class list")
    if path.suffix.lower() == ".json":
        try:
            mapping = json.loads(_read_text(path))
        except json.JSONDecodeError as exc:
            raise AnnotationError(f"{path}: not valid JSON ({exc})") from exc
        if not isinstance(mapping, dict):
            raise AnnotationError(f"{path}: expected a JSON object mapping class name to index")
        return _names_by_index(mapping, path)
    return [ln for ln in _lines(path)]


def _names_by_index(mapping: dict, path: Path) -> list[str]:
    try:
        by_index = {int(v): str(k) for k, v in mapping.items()}
    except (TypeError, ValueError) as exc:
        raise AnnotationError(f"{path}: class indices must be integers ({exc})") from exc
    if sorted(by_index) != list(range(len(by_index))):
        raise AnnotationError(f"{path}: class indices must be 0..{len(by_index) - 1} without gaps")
    return [by_index[i] for i in range(len(by_index))]


def synthetic(root: Path, annotations: Path | None, split_number: int = 1, classes: Path | None = None) -> Listing:
    cls = classes if classes is not None else root / "classes.txt"
    return kinetics400(root, annotations, split_number, _require(cls, "synthetic class list (run `e3d synth`)"))


# ---------------------------------------------------------------- Something-Something


def sthv1(root: Path, annotations: Path | None, split_number: int = 1, classes: Path | None = None) -> Listing:
    ann = annotations if annotations is not None else root.parent
    if ann.is_dir():
        label_file = classes or _find_one(ann, "*labels.csv")
        split_files = {s: _find_optional(ann, f"*-{key}.csv") for s, key in
                       (("train", "train"), ("val", "validation"), ("test", "test"))}
    else:
        raise AnnotationError(f"{ann}: Something-Something V1 annotations must be a directory")
    class_names = _lines(_require(label_file, "label list"))
    entries = []
    for split, f in split_files.items():
        if f is None:
            continue
        for lineno, line in enumerate(_lines(f), start=1):
            vid, _, label = line.partition(";")
            vid = vid.strip()
            if not vid:
                raise AnnotationError(f"{f}:{lineno}: expected 'id;label', got {line!r}")
            entries.append(Entry(vid, vid, label.strip() or None, split))
    if not any(split_files.values()):
        raise AnnotationError(f"{ann}: no *-train.csv / *-validation.csv / *-test.csv found")
    return Listing(class_names, entries)


def _find_one(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    if len(found) != 1:
        raise AnnotationError(f"{folder}: expected exactly one {pattern}, found {len(found)}")
    return found[0]


def _find_optional(folder: Path, pattern: str) -> Path | None:
    found = sorted(folder.glob(pattern))
    return found[0] if found else None


_BRACKETS = re.compile(r"\[([^\]]*)\]")


def strip_template(template: str) -> str:
    """"Putting [something] on [something]" -> "Putting something on something"."""
    return _BRACKETS.sub(r"\1", template).strip()


def sthv2(root: Path, annotations: Path | None, split_number: int = 1, classes: Path | None = None) -> Listing:
    ann = annotations if annotations is not None else root.parent / "labels"
    _require(ann, "Something-Something V2 label directory")
    label_file = classes or ann / "labels.json"
    try:
        mapping = json.loads(_read_text(_require(label_file, "labels.json")))
    except json.JSONDecodeError as exc:
        raise AnnotationError(f"{label_file}: not valid JSON ({exc})") from exc
    class_names = _names_by_index(mapping, label_file)
    entries = []
    found_any = False
    for split, fname in (("train", "train.json"), ("val", "validation.json"), ("test", "test.json")):
        f = ann / fname
        if not f.is_file():
            continue
        found_any = True
        try:
            items = json.loads(_read_text(f))
        except json.JSONDecodeError as exc:
            raise AnnotationError(f"{f}: not valid JSON ({exc})") from exc
        if not isinstance(items, list):
            raise AnnotationError(f"{f}: expected a JSON list of {{id, template, ...}} objects")
        for k, item in enumerate(items):
            if not isinstance(item, dict) or "id" not in item:
                raise AnnotationError(f"{f}: item {k} has no 'id'")
            vid = str(item["id"])
            template = item.get("template")
            entries.append(Entry(vid, f"{vid}.webm", strip_template(template) if template else None, split))
    if not found_any:
        raise AnnotationError(f"{ann}: none of train.json, validation.json, test.json found")
    return Listing(class_names, entries)


# ---------------------------------------------------------------- UCF101 and HMDB51


def ucf101(root: Path, annotations: Path | None, split_number: int = 1, classes: Path | None = None) -> Listing:
    ann = annotations if annotations is not None else root.parent / "ucfTrainTestlist"
    class_ind = classes or _require(ann / "classInd.txt", "classInd.txt")
    pairs = []
    for lineno, line in enumerate(_lines(class_ind), start=1):
        idx, _, name = line.partition(" ")
        if not idx.isdigit() or not name.strip():
            raise AnnotationError(f"{class_ind}:{lineno}: expected 'index ClassName', got {line!r}")
        pairs.append((int(idx), name.strip()))
    class_names = [name for _, name in sorted(pairs)]
    entries = []
    for split, fname in (("train", f"trainlist0{split_number}.txt"), ("test", f"testlist0{split_number}.txt")):
        f = _require(ann / fname, f"UCF101 split {split_number} list")
        for line in _lines(f):
            rel = line.split()[0]
            # Labels in trainlist are 1-based indices; testlist has none: the class is the folder name.
            folder = rel.replace("\\", "/").split("/")[0] if "/" in rel.replace("\\", "/") else None
            entries.append(Entry(_id_from_path(rel), rel, folder, split))
    return Listing(class_names, entries)


def hmdb51(root: Path, annotations: Path | None, split_number: int = 1, classes: Path | None = None) -> Listing:
    ann = annotations if annotations is not None else root.parent / "testTrainMulti_7030_splits"
    _require(ann, "HMDB51 split directory")
    suffix = f"_test_split{split_number}.txt"
    files = sorted(p for p in ann.iterdir() if p.name.endswith(suffix))
    if not files:
        raise AnnotationError(f"{ann}: no *{suffix} files")
    class_names = [p.name[: -len(suffix)] for p in files]
    entries = []
    for cls, f in zip(class_names, files):
        for lineno, line in enumerate(_lines(f), start=1):
            parts = line.split()
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise AnnotationError(f"{f}:{lineno}: expected 'video.avi 0|1|2', got {line!r}")
            if parts[1] == "0":
                continue  # not part of this split
            split = "train" if parts[1] == "1" else "test"
            entries.append(Entry(_id_from_path(parts[0]), f"{cls}/{parts[0]}", cls, split))
    return Listing(class_names, entries)


ADAPTERS: dict[str, Callable[..., Listing]] = {
    "synthetic": synthetic,
    "kinetics400": kinetics400,
    "sthv1": sthv1,
    "sthv2": sthv2,
    "ucf101": ucf101,
    "hmdb51": hmdb51,
}


def read_listing(fmt: str, root: Path, annotations: Path | None = None, split_number: int = 1,
                 classes: Path | None = None) -> Listing:
    if fmt not in ADAPTERS:
        raise UserError(f"unknown dataset format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if not Path(root).is_dir():
        raise UserError(f"{root}: dataset root is not a directory")
    if split_number not in (1, 2, 3):
        raise UserError(f"split number must be 1, 2 or 3, got {split_number}")
    return ADAPTERS[fmt](Path(root), Path(annotations) if annotations else None, split_number,
                         Path(classes) if classes else None)
