"""Digests that identify what produced an artifact: the config slice and the code a stage depends on.

Snakemake does not track code imported by a rule's command, so each rule passes
`code_digest(<the modules it depends on>)` as a param: editing those modules reruns exactly
the stages that use them, and editing anything else (README, tests) reruns nothing.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from e3d.model_kinds import code_modules

PACKAGE_ROOT = Path(__file__).resolve().parent


def config_digest(params: Any) -> str:
    """Stable digest of a JSON-able config slice (key order does not matter)."""
    blob = json.dumps(params, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@lru_cache(maxsize=None)
def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def file_content_digest(path: str | Path) -> str:
    """sha256 of a file's bytes (read in chunks: checkpoints are large), cached per path, mtime and size so that
    a DAG build hashes each file version once. Raises OSError for a missing file."""
    st = Path(path).stat()
    return _content_digest(str(Path(path).resolve()), st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=None)
def _content_digest(path: str, mtime_ns: int, size: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


DAG_ONLY = "workflow.py"


def is_dag_only(path: Path) -> bool:
    """A subpackage's Snakemake helper module (e3d/<subpackage>/workflow.py): imported by the rule files only."""
    return path.name == DAG_ONLY and path.parent.parent == PACKAGE_ROOT


def module_files(*modules: str) -> list[Path]:
    """The source files code_digest covers for these package-relative modules or subpackages."""
    files: list[Path] = []
    for module in sorted(set(modules)):
        target = PACKAGE_ROOT / module
        if target.is_dir():
            files.extend(p for p in sorted(target.rglob("*.py")) if not is_dag_only(p))
        elif target.with_suffix(".py").is_file():
            files.append(target.with_suffix(".py"))
        elif target.is_file():
            files.append(target)
        else:
            raise FileNotFoundError(f"code_digest: no module {module!r} under {PACKAGE_ROOT}")
    return files


def code_digest(*modules: str) -> str:
    """Digest of the source of the given package-relative modules or subpackages.

    `code_digest("data", "artifacts.py")` covers src/e3d/data/**.py and src/e3d/artifacts.py. A subpackage's
    Snakemake helper (`<subpackage>/workflow.py`, DAG_ONLY) is left out: it runs only while Snakemake builds the DAG,
    and what it decides reaches a job as that job's params and inputs, which Snakemake tracks itself. (With it in,
    editing how the baselines rules are planned reran the contracted-X3D and random-architecture jobs, and so every
    training of the main comparison.)
    """
    h = hashlib.sha256()
    for f in module_files(*modules):
        h.update(str(f.relative_to(PACKAGE_ROOT)).encode())
        h.update(_file_digest(f).encode())
    return h.hexdigest()[:16]


def stage_code_digest(stage: str) -> str:
    """Digest of the code one workflow stage depends on (see STAGE_MODULES)."""
    return code_digest(*STAGE_MODULES[stage])


# The modules each stage's outputs depend on (tests/test_code_digests.py walks each stage's e3d imports and fails on
# one left out). Shared infrastructure is deliberately included: how artifacts are written, the settings blocks'
# declaration and checking (settingspec: defaults and constraints of every stage's settings), the model kinds' table
# (architecture references are parsed by it), the commands package.
COMMON = ("__init__.py", "artifacts.py", "provenance.py", "settingspec.py", "model_kinds.py", "commands/__init__.py")
# The code that builds the networks training and evaluation run, besides the train and arch code: each model kind's
# modules as e3d.model_kinds declares them (the PyTorch spec builder, DARTS-P3D's discrete network and TSN sampler,
# SGS) and that table itself. The DARTS search (search, architect, config, run) is not among them: searching again
# reruns what it changes.
MODEL_PLUGINS = code_modules()
STAGE_MODULES: dict[str, tuple[str, ...]] = {
    "data": COMMON + ("data", "commands/synth.py", "commands/index.py", "commands/extract.py"),
    # The decoded-clip cache (rule cache): the data code (its reader and writer, the sources it reads) and its command.
    "cache": COMMON + ("data", "commands/cache.py", "commands/_source.py"),
    # Training reads clips from the frame store (data) and builds the network from a spec (arch).
    "train": COMMON + ("train", "arch", "data", "commands/train.py", "commands/_source.py") + MODEL_PLUGINS,
    # Evaluation rebuilds the model and its clips with the training code; it changes when that does.
    "evaluate": COMMON + ("evaluate", "train", "arch", "data", "commands/evaluate.py", "commands/_source.py",
                          "commands/profile.py", "hostinfo.py", "cliflags.py")
    + MODEL_PLUGINS,
    # The scorer, the search engine and the spec/cost/space code they read; not the PyTorch builder.
    "search": COMMON + ("score", "search", "arch", "commands/score.py", "commands/search.py"),
    # A search with a forward-inference score (zen, madet, forward) also builds and runs the network.
    "search_forward": COMMON + ("score", "search", "arch", "models", "commands/score.py", "commands/search.py"),
    # Tables read every stage's artifacts and import their own code (and the paper's transcribed data, covered by
    # e3d.tables.write.paper_data_files); a table whose builder runs another stage's code (Table 7 scores the trained
    # networks) adds that stage (e3d.tables.registry.TableRule.code_stages).
    "tables": COMMON + ("tables", "commands/tables.py"),
    # The search reads its clips from the frame store (the data code: the store's reader imports the extractor's
    # format constants) with the training stage's pixel transforms, default normalisation and skip log.
    "darts": COMMON + ("darts", "commands/darts_search.py", "data", "train/clips.py", "train/settings.py",
                       "train/failures.py"),
    # The SGS layer and its measured cost: SGS models train and evaluate through the train/evaluate stages, whose
    # digests include it (MODEL_PLUGINS); the SGS table rule adds it to the tables digest.
    "sgs": COMMON + ("sgs",),
    # Of the tables package, the jobs run only the figure, label-placement and statistics code (not the table
    # builders, which would rerun Figure 3's sampling and so its 16 trainings whenever a table changed).
    "baselines": COMMON + ("baselines", "score", "arch", "models", "search", "tables/__init__.py", "tables/figures.py",
                           "tables/labels.py", "tables/stats.py", "commands/baselines.py"),
}
