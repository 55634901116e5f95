import subprocess
import sys

from e3d.cli import COMMANDS


def run(*args):
    return subprocess.run([sys.executable, "-m", "e3d.cli", *args], capture_output=True, text=True)


def test_help_lists_every_stage():
    out = run("--help")
    assert out.returncode == 0
    for name in COMMANDS:
        assert name in out.stdout


def test_version():
    out = run("--version")
    assert out.returncode == 0 and out.stdout.startswith("e3d ")
