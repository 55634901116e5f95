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
        """The settings the index depends on (synth/extract settings rerun their own rules; `source` only changes
        what training reads)."""
        return {k: v for k, v in self.datasets[name].items() if k not in ("synth", "extract", "source")}

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

    def clip_input(self, name: str) -> str:
        """The file train/evaluate jobs read clips through: the frame store's manifest, or for `source: video`
        the index (the extract job is then not needed)."""
        if self.source(name) == "video":
            return self.layout.index(name)
        return self.layout.frames_manifest(name)

    def clip_args(self, name: str, clip_input: str) -> str:
        """`e3d train`/`e3d evaluate` flags for that source; the extract settings make the video source read the
        frames the store would hold."""
        if self.source(name) == "video":
            return to_flags({"source": "video", "index": clip_input, "extract": self.datasets[name]["extract"]},
                            sort=True)
        return to_flags({"store": os.path.dirname(clip_input)})

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
