"""Helpers for workflow/rules/data.smk: which datasets exist, where they live, and each job's command flags.

Kept in the library (not the rule file) so the rule file holds only rules and they are unit-testable.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from e3d.cliflags import to_flags
from e3d.layout import Layout


def ensure_interpreter_on_path() -> None:
    """Put the running interpreter's bin directory first on PATH.

    `.venv/bin/snakemake` runs without the venv being activated, so rules calling `e3d` would not find
    it; this makes `e3d` resolve to the same installation as Snakemake itself. Under --use-conda the
    activated environment is prepended later and still wins.
    """
    bindir = os.path.dirname(sys.executable)
    parts = os.environ.get("PATH", "").split(os.pathsep)
    if bindir not in parts[:1]:
        os.environ["PATH"] = os.pathsep.join([bindir, *[p for p in parts if p]])


class DataConfig:
    """The `data` config section as the rule file needs it."""

    def __init__(self, config: dict[str, Any]):
        self.config = config
        self.layout = Layout.from_config(config)
        self.datasets: dict[str, dict[str, Any]] = config["data"]["datasets"]
        self.threads: int = config["data"]["threads"]

    def is_generated(self, name: str) -> bool:
        """A synthetic dataset without a root is written by the synth rule under {work_dir}/raw/{name}."""
        ds = self.datasets[name]
        return ds["format"] == "synthetic" and not ds["root"]

    def root(self, name: str) -> str:
        return self.layout.raw_dir(name) if self.is_generated(name) else self.datasets[name]["root"]

    def synth_slice(self, name: str) -> dict[str, Any]:
        return self.datasets[name]["synth"]

    def index_slice(self, name: str) -> dict[str, Any]:
        """The settings the index depends on (synth/extract/cache settings rerun their own rules; `source` only
        changes what training reads)."""
        return {k: v for k, v in self.datasets[name].items() if k not in ("synth", "extract", "source", "cache")}

    def index_args(self, name: str) -> str:
        ds = self.datasets[name]
        args = {"format": ds["format"], "root": self.root(name), "split": ds["split"], "min_frames": ds["min_frames"]}
        for key in ("annotations", "classes"):
            if ds[key]:
                args[key] = ds[key]
        return to_flags(args, sort=True)

    def index_inputs(self, name: str) -> list[str]:
        if self.is_generated(name):
            return [self.layout.synth_manifest(name)]
        ds = self.datasets[name]
        # annotation files are inputs, so editing them re-indexes
        return [p for p in (ds["annotations"], ds["classes"]) if p]

    def video_files(self, name: str) -> list[str]:
        """Every raw video of the dataset, as files Snakemake tracks (see `track_videos` in the schema).

        For the generated synthetic set the list comes from the synth plan (cheap: no rendering), so the
        synth job declares the very files the index job consumes.
        """
        ds = self.datasets[name]
        if self.is_generated(name):
            from e3d.data.synth import SynthSettings, class_names, plan

            settings = SynthSettings(**ds["synth"])
            names = class_names(settings.classes)
            return [f"{self.root(name)}/{spec.relpath(names)}" for spec in plan(settings)]
        if not ds.get("track_videos", True) or ds["format"] == "sthv1" or not os.path.isdir(ds["root"]):
            return []
        return sorted(_walk_videos(ds["root"]))

    def source(self, name: str) -> str:
        return self.datasets[name].get("source", "frames")

    def source_input(self, name: str) -> str:
        """The file the dataset's `source` reads clips through: the frame store's manifest, or for `source: video`
        the index (the extract job is then not needed)."""
        if self.source(name) == "video":
            return self.layout.index(name)
        return self.layout.frames_manifest(name)

    def source_args(self, name: str, source_input: str) -> str:
        """`e3d train`/`e3d evaluate`/`e3d cache` flags for that source; the extract settings make the video source
        read the frames the store would hold."""
        if self.source(name) == "video":
            return to_flags({"source": "video", "index": source_input, "extract": self.datasets[name]["extract"]},
                            sort=True)
        return to_flags({"store": os.path.dirname(source_input)})

    def cached(self, name: str) -> bool:
        """Whether train and evaluate read the dataset's decoded-clip cache (its `cache.enabled`)."""
        return bool((self.datasets[name].get("cache") or {}).get("enabled"))

    def clip_input(self, name: str) -> str:
        """The file train/evaluate jobs read clips through: the clip cache's manifest for a dataset with the cache
        on, else its source's file (source_input)."""
        if self.cached(name):
            return self.layout.cache_manifest(name)
        return self.source_input(name)

    def clip_args(self, name: str, clip_input: str) -> str:
        """`e3d train`/`e3d evaluate` flags for what clip_input names."""
        if self.cached(name):
            return to_flags({"cache": os.path.dirname(clip_input), "source": "cache"}, sort=True)
        return self.source_args(name, clip_input)

    def cache_short_side(self, name: str) -> int:
        """The cache's short side: `cache.short_side`, or null derived from what reads the cache (the largest
        ceil(crop x short_side_scale max) of the dataset's training schedule and of every configured model's, and
        every test crop on the dataset), never above the frames' own short side (extract.short_side)."""
        ds = self.datasets[name]
        have = int(ds["extract"]["short_side"])
        chosen = (ds.get("cache") or {}).get("short_side")
        if chosen:
            if have and int(chosen) > have:
                raise ValueError(f"config: data.datasets.{name}.cache.short_side {chosen} is larger than the frames "
                                 f"(extract.short_side {have}): a cache never upscales")
            return int(chosen)
        need = self._short_sides_read(name)
        if not need:
            if not have:
                raise ValueError(f"config: data.datasets.{name}.cache.short_side: no training crop to derive it from "
                                 f"and the frames keep their size (extract.short_side 0); set it")
            return have
        return min(max(need), have) if have else max(need)

    def _short_sides_read(self, name: str) -> list[int]:
        from e3d.data.settings import needed_short_side

        train = self.config.get("train") or {}
        schedule = {**(train.get("settings") or {}), **((train.get("dataset_settings") or {}).get(name) or {})}
        schedules = [schedule] + [{**schedule, **(m.get("settings") or {})}
                                  for m in (self.config.get("models") or {}).values()]
        sizes = [needed_short_side(s["crop"], s.get("short_side_scale") or (1.0, 1.0)) for s in schedules
                 if s.get("crop")]
        evaluate = self.config.get("evaluate") or {}
        per_dataset = (evaluate.get("datasets") or {}).get(name) or {}
        crops = [evaluate.get("crop"), per_dataset.get("crop"),
                 *[(m or {}).get("crop") for m in (per_dataset.get("models") or {}).values()]]
        return sizes + [int(c) for c in crops if c]

    def cache_slice(self, name: str) -> dict[str, Any]:
        """The cache job's config slice (a param: changing it reruns the cache and what reads it)."""
        return {"short_side": self.cache_short_side(name)}

    def shard_paths(self, name: str) -> list[str]:
        n = self.datasets[name]["extract"]["shards"]
        return [self.layout.frames_shard(name, i) for i in range(n)]


VIDEO_SUFFIXES = (".mp4", ".webm", ".avi", ".mkv", ".mov", ".m4v")


def _walk_videos(root: str) -> list[str]:
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        found.extend(os.path.join(dirpath, f) for f in filenames if f.lower().endswith(VIDEO_SUFFIXES))
    return found
