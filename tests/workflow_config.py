"""A tiny version of the default workflow (same DAG shape, minutes -> seconds) for end-to-end tests, the pieces it is
made of (for tests that run part of the workflow: tiny_dirs, tiny_data, tiny_spec_ref, TINY_TRAIN_SETTINGS, ...),
and a copy of the repository that tests may edit (code digests, raw videos) without touching the checkout."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import yaml

TINY_SPEC = {
    "name": "tiny", "family": "e3d", "resolution": 32, "frames": 4,
    "stem": {"out": 8, "kernel": [1, 3, 3], "stride": 2},
    "blocks": [{"out": 8, "btn": 16, "kernel": [3, 3, 3], "stride": 2, "layers": 1}],
    "final": {"out": 16},
    "head": {"hidden": 16, "dropout": 0.0},
}

COPIED = ("Snakefile", "workflow", "config", "profiles", "src", "envs", "requirements", "README.md", "pyproject.toml",
          "tests")


# The synthetic dataset every workflow test starts from: 2 classes x 4 clips of 32-40 px, 0.6-1 s.
TINY_SYNTH = {"classes": 2, "clips_per_class": 4, "min_side": 32, "max_side": 40, "min_seconds": 0.6, "max_seconds": 1.0}
TINY_EXTRACT = {"short_side": 32, "shards": 1}
# One tiny epoch, small clips, no DataLoader workers.
TINY_TRAIN_SETTINGS = {"epochs": 1, "batch_size": 2, "frames": 4, "crop": 24, "num_workers": 0, "checkpoint_every": 2}
TINY_EVALUATE = {"views": "center", "clips": 1, "batch_size": 4, "single_frame_control": False}


def tiny_dirs(base: Path) -> dict:
    """work/, logs/ and results (res/) under `base`."""
    return {"work_dir": str(base / "work"), "logs_dir": str(base / "logs"), "results_dir": str(base / "res")}


def tiny_synth(**overrides) -> dict:
    """TINY_SYNTH with some values changed."""
    return {**TINY_SYNTH, **overrides}


def tiny_data(threads: int = 1, synth: dict | None = None, extract: dict | None = None) -> dict:
    """The `data` section: the tiny synthetic dataset only (synth/extract: values that differ from TINY_*)."""
    return {"threads": threads, "datasets": {"synthetic": {
        "format": "synthetic", "synth": tiny_synth(**(synth or {})), "extract": {**TINY_EXTRACT, **(extract or {})}}}}


def tiny_spec_ref(base: Path) -> str:
    """`spec:FILE` of TINY_SPEC, written to base/tiny_spec.json once (rewriting it would give the train job a newer
    input)."""
    spec = base / "tiny_spec.json"
    if not spec.exists():
        spec.write_text(json.dumps(TINY_SPEC))
    return f"spec:{spec}"


def tiny_workflow_config(base: Path, **overrides) -> dict:
    """The default workflow at toy scale: 2 classes x 4 clips, S/M/L searches of a few hundred iterations,
    two one-epoch models (a fixed tiny spec and the S search's result), and the training-free baselines (Figure 4,
    Figure 3 on three sampled models, Table 7's searches of two candidates and a contracted X3D, one seed) with
    one-epoch trainings."""
    run = {"max_layers": 83, "resolution": 160, "frames": 13, "iterations": 300, "population": 16}
    cfg = {
        **tiny_dirs(base),
        "data": tiny_data(),
        "search": {"threads": 1, "lanes": 4, "sync_every": 100, "topk": 2,
                   "runs": {"s": {**run, "budget_gflops": 1.9},
                            "m": {**run, "budget_gflops": 4.7, "resolution": 224, "frames": 16},
                            "l": {**run, "budget_gflops": 18.3, "max_layers": 167, "resolution": 312, "frames": 16}},
                   "x3d_kernel_variants": {"enabled": False}},
        "models": {"tiny": {"arch": tiny_spec_ref(base), "act": "relu"},
                   "tiny-s": {"arch": "search:s", "act": "relu"}},
        "train": {"datasets": ["synthetic"], "models": ["tiny", "tiny-s"], "settings": dict(TINY_TRAIN_SETTINGS)},
        "evaluate": dict(TINY_EVALUATE),
        "tables": {"table4_runs": ["s", "m", "l"], "table12_runs": ["s"], "table13": False,
                   "search_device": "test CPU"},
        # Figure 4 on two small widths, Figure 3 on three sampled models, Table 7's three scores for a couple of
        # candidates each (forward scores at batch 1, one draw), every model trained one tiny epoch
        "baselines": {
            "fig4": {"channels": [4, 8], "repeats": 5},
            "fig3": {"n": 3, "gflops_min": 0.004, "gflops_max": 0.1, "resolution": 32, "frames": 8, "bins": 3,
                     "settings": {"epochs": 1}, "n_boot": 20},
            "table7": {"scores": ["zen", "madet", "stentr"], "base_run": "s", "iterations": 2, "population": 4,
                       "score_options": {"zen": {"batch_size": 1, "repeats": 1},
                                         "madet": {"batch_size": 1, "repeats": 1}},
                       "seeds": [0], "x3d": ["depth"], "random": 0, "baseline_model": None},
        },
    }
    _merge(cfg, overrides)
    return cfg


def _merge(into: dict, new: dict) -> None:
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _merge(into[k], v)
        else:
            into[k] = v


def write_config(path: Path, cfg: dict) -> Path:
    path.write_text(yaml.safe_dump(cfg))
    return path


def copy_repo(src_root: Path, dest: Path) -> Path:
    """A copy of the repository's workflow and package that a test may edit freely."""
    dest.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    for name in COPIED:
        src = src_root / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore, symlinks=True)
        elif src.exists():
            shutil.copy2(src, dest / name)
    os.symlink("profiles/slurm", dest / "slurm")
    return dest


def env_for(repo: Path, base_env: dict[str, str]) -> dict[str, str]:
    """Subprocess environment whose `e3d` package is the copy's source tree."""
    env = dict(base_env)
    env["PYTHONPATH"] = str(repo / "src")
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env
