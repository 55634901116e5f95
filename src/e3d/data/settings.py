"""A dataset entry's settings (config data.datasets.NAME), declared once (e3d.settingspec).

The entry's own keys are DatasetSettings' fields; its `synth:`, `extract:` and `cache:` blocks are SynthSettings
(e3d.data.synth), ExtractSettings (e3d.data.extract, the CONFIG_KEYS) and CacheSettings (below). `python -m e3d.schemagen --write` writes
the entry's schema (workflow/schemas/generated/data_dataset.schema.yaml) from them, and `e3d index` takes its
--format, --split and --min-frames flags and checks from the same fields.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from e3d.data.adapters import FORMATS
from e3d.errors import UserError
from e3d.settingspec import check_fields, setting

SOURCES = ("frames", "video")


@dataclass(frozen=True)
class DatasetSettings:
    """One dataset: where its videos are, how the index reads them, and where training reads clips from."""

    format: str = setting(enum=list(FORMATS), doc="the layout of the videos and annotations (e3d.data.adapters)")
    root: str = setting("", doc="dataset root holding the videos (sthv1: the frame folders). Empty for synthetic "
                                "means {work_dir}/raw/{name}; required for real datasets.")
    annotations: str = setting("", doc="annotation file or directory; empty means the format's usual place beside "
                                       "the root")
    classes: str = setting("", doc="optional class list overriding the format's own label order")
    split: int = setting(1, enum=[1, 2, 3], doc="official split number (ucf101, hmdb51)")
    source: str = setting(
        "frames", enum=list(SOURCES),
        doc="where training and evaluation read clips: `frames` from the JPEG frame store (extracted once, several "
            "times the size of the videos; fastest to read), `video` straight from the raw videos (no store "
            "written; each clip decoded from the nearest keyframe on the fly, more CPU per clip). Both give the "
            "same frames for the same clip (the extract settings below apply either way); the README measures "
            "what each costs.")
    min_frames: int = setting(8, minimum=1, doc="videos with fewer frames (less than one clip) are skipped by the index")
    track_videos: bool = setting(
        True,
        doc="declare every video file under the root as an input of the index job, so replacing a video "
            "re-indexes and re-extracts its dataset while touching it (same bytes) reruns nothing (Snakemake "
            "compares checksums of inputs under --max-checksum-file-size, 1 MB by default; a touched larger "
            "video reruns on its mtime). Listing costs one directory walk per DAG build: turn off for huge "
            "roots on slow network file systems. Frame-folder datasets (sthv1) track folders, not frames.")

    def __post_init__(self) -> None:
        check_fields(self, UserError, "dataset: ")


# The fields `e3d index` takes as flags (the rest: --root/--annotations/--classes are paths there, `source` and
# `track_videos` are the workflow's).
INDEX_FLAG_KEYS = ("format", "split", "min_frames")


MIN_CACHE_SHORT_SIDE = 8  # e3d.data.extract.MIN_SHORT_SIDE: no smaller frame holds a clip the models take


@dataclass(frozen=True)
class CacheSettings:
    """The decoded-clip cache of a dataset (e3d.data.cache, `e3d cache`): its frames decoded once, resized, in one
    memory-mapped file that training and evaluation read instead of the frame store (or the videos)."""

    enabled: bool = setting(
        False,
        doc="train and evaluate read clips from the decoded-clip cache (work/data/{name}/cache/: every frame "
            "decoded once and resized, one flat uint8 file read through a memory map), not from the JPEG frame "
            "store or the videos: no JPEG decoding or Parquet reads per clip, for more disk (raw pixels) and one "
            "extra resize (e3d.data.cache says how close the pixels stay)")
    short_side: int | None = setting(
        None, minimum=MIN_CACHE_SHORT_SIDE,
        doc="short side of the cached frames; null derives it from the training settings and the test crops: "
            "the largest ceil(crop x short_side_scale max) of the dataset's schedule and every configured model's, "
            "and every test crop, never above extract.short_side")

    def __post_init__(self) -> None:
        check_fields(self, UserError, "cache: ")


def needed_short_side(crop: int, short_side_scale) -> int:
    """The largest short side the training augmentation resizes a clip to (e3d.train.clips.train_augment draws
    max(crop, round(crop x u)) with u in short_side_scale): what a cache must hold for that schedule."""
    return max(int(crop), math.ceil(int(crop) * float(short_side_scale[1]) - 1e-9))
