"""The suite's shield against a SLURM controller that does not answer (tests/smk.py NOSLURM, tools/noslurm).

On a machine with SLURM's client tools the SLURM executor plugin runs `scontrol show config` (10 s timeout) whenever
Snakemake loads its plugins, even for a local `snakemake -n`, and waits the full 10 s when no controller answers. A
fake SLURM on PATH (sinfo, squeue, sacct, and an scontrol that records each call) shows that a local dry run calls
scontrol without the shield and never with tools/noslurm first on PATH. (The fake fails at once instead of hanging,
so the test does not pay the 10 s itself; a fake that sleeps shows the same: tools/noslurm/scontrol answers first.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from smk import NOSLURM, shielded_path, slurm_client_env

pytestmark = pytest.mark.slow


def _fake_slurm(folder: Path, calls: Path) -> Path:
    folder.mkdir()
    for tool in ("sinfo", "squeue", "sacct"):
        (folder / tool).write_text("#!/bin/sh\nexit 0\n")
    (folder / "scontrol").write_text(f'#!/bin/sh\necho "$*" >> {calls}\nexit 1\n')
    for tool in folder.iterdir():
        tool.chmod(0o755)
    return folder


def _dry_run(workdir: Path, path: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": path}
    return subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1"], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=120)


def test_helpers_put_the_shield_first_and_take_it_off():
    path = shielded_path(os.pathsep.join(["/usr/bin", str(NOSLURM), "/bin"]))
    assert path.split(os.pathsep) == [str(NOSLURM), "/usr/bin", "/bin"]
    assert slurm_client_env({"PATH": path, "X": "1"}) == {"PATH": os.pathsep.join(["/usr/bin", "/bin"]), "X": "1"}


def test_a_local_dry_run_does_not_wait_for_scontrol(tmp_path):
    calls = tmp_path / "scontrol.calls"
    fake = _fake_slurm(tmp_path / "fake-slurm", calls)
    workdir = tmp_path / "wf"
    workdir.mkdir()
    (workdir / "Snakefile").write_text('rule all:\n    output: "x.txt"\n    shell: "touch {output}"\n')
    unshielded = slurm_client_env(os.environ)["PATH"]

    plain = _dry_run(workdir, os.pathsep.join([str(fake), unshielded]))
    assert plain.returncode == 0, plain.stderr[-2000:]
    if not calls.exists():
        pytest.skip("this SLURM executor plugin no longer runs scontrol when Snakemake loads it; no shield needed")

    calls.unlink()
    shielded = _dry_run(workdir, shielded_path(os.pathsep.join([str(fake), unshielded])))
    assert shielded.returncode == 0, shielded.stderr[-2000:]
    assert not calls.exists(), "the shielded dry run called the fake scontrol"
