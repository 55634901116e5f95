"""Run the real `snakemake` on this repository and read what it would (re)run from its dry-run output."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# An `scontrol` that fails at once. The SLURM executor plugin runs `scontrol show config` (10 s timeout) whenever
# Snakemake loads its plugins, even for a local run; on a machine where SLURM is installed but no controller
# answers (as after the SLURM tests stop their cluster) every snakemake call would wait for it. conftest.py puts
# this folder first on the suite's PATH; tests that talk to a real cluster take it off (slurm_client_env).
NOSLURM = Path(__file__).resolve().parents[1] / "tools" / "noslurm"


def shielded_path(path: str) -> str:
    """PATH with tools/noslurm first."""
    parts = [p for p in path.split(os.pathsep) if p and Path(p) != NOSLURM]
    return os.pathsep.join([str(NOSLURM), *parts])


def slurm_client_env(env: dict[str, str]) -> dict[str, str]:
    """`env` for a process that talks to a real SLURM cluster: the real scontrol, not the shield."""
    parts = [p for p in env.get("PATH", "").split(os.pathsep) if p and Path(p) != NOSLURM]
    return {**env, "PATH": os.pathsep.join(parts)}

# A job block; the jobs of a group job (e.g. the `data` group) are printed indented by four more spaces.
JOB_RE = re.compile(r"^(?P<indent>(?:    )?)rule (?P<rule>[\w-]+):\n(?P<body>(?:(?P=indent)    .*\n?)*)", re.MULTILINE)


@dataclass(frozen=True)
class PlannedJob:
    rule: str
    outputs: tuple[str, ...]
    wildcards: str
    reason: str


def snakemake(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 1800) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", *args]
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    return proc


def run_locally(cwd: Path, env: dict[str, str], *args, timeout: float = 900) -> subprocess.CompletedProcess:
    """`snakemake --cores 2 --nolock ARGS` (tests may run several workflows from one checkout)."""
    return snakemake(["--cores", "2", "--nolock", *map(str, args)], cwd, env, timeout=timeout)


def planned_jobs(dry_run_output: str) -> list[PlannedJob]:
    """Parse the per-job blocks of `snakemake -n` (Snakemake 9 format)."""
    jobs = []
    for m in JOB_RE.finditer(dry_run_output):
        fields: dict[str, str] = {}
        for line in m.group("body").splitlines():
            key, _, value = line.strip().partition(": ")
            fields[key] = value
        jobs.append(
            PlannedJob(
                rule=m.group("rule"),
                outputs=tuple(o.strip() for o in fields.get("output", "").split(",") if o.strip()),
                wildcards=fields.get("wildcards", ""),
                reason=fields.get("reason", ""),
            )
        )
    return jobs


def dry_run(cwd: Path, env: dict[str, str], extra: list[str] = ()) -> list[PlannedJob]:
    proc = snakemake(["-n", "--cores", "2", *extra], cwd, env)
    if proc.returncode != 0:
        raise AssertionError(f"snakemake -n failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    out = proc.stdout + proc.stderr
    if "Nothing to be done" in out:
        return []
    return planned_jobs(out)


def rules_of(jobs: list[PlannedJob]) -> set[str]:
    return {j.rule for j in jobs if j.rule != "all"}
