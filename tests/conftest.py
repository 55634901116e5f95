import os
import sys
from pathlib import Path

import pytest

from smk import shielded_path

REPO_ROOT = Path(__file__).resolve().parents[1]
_PATH_BEFORE = os.environ.get("PATH", "")


def pytest_configure(config):
    """Shield every process the suite starts from a SLURM controller that does not answer (tests/smk.py NOSLURM)."""
    os.environ["PATH"] = shielded_path(_PATH_BEFORE)


def pytest_unconfigure(config):
    os.environ["PATH"] = _PATH_BEFORE


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def cli_env() -> dict[str, str]:
    """Environment for subprocesses (`e3d`, `snakemake`) that use this checkout's source tree."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT / "src"), env.get("PYTHONPATH", "")]))
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


@pytest.fixture
def one_torch_thread():
    """Tiny convolutions on a shared 2-core machine: extra torch threads only add contention."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
