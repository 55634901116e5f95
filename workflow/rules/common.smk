# Shared helpers for all rule files. Each file adds its final products to TARGETS (see e3d.targets); `all` builds
# TARGETS.all and `study` also TARGETS.study (what needs a study-only model or study, config `study`).
from e3d.data.workflow import ensure_interpreter_on_path
from e3d.layout import Layout
from e3d.provenance import stage_code_digest
from e3d.targets import Targets

# `.venv/bin/snakemake` runs without the venv activated: make `e3d` in rules resolve to this installation.
ensure_interpreter_on_path()

TARGETS = Targets(config)
WORK = config["work_dir"]
RESULTS = config["results_dir"]
LOGS = config["logs_dir"]
# Every path a rule writes and another reads (see e3d.layout); logs only one rule names stay spelled in that rule.
LAYOUT = Layout.from_config(config)


wildcard_constraints:
    dataset=r"[A-Za-z0-9_]+",


def code_digest_param(stage):
    """Digest of the library code a stage depends on, passed as a param so that editing that code
    (and only that code) reruns the stage; Snakemake itself does not track imported modules."""
    return stage_code_digest(stage)
