"""Logging for the workflow's `script:` rules (workflow/scripts/): what a shell rule's `> {log} 2>&1` does."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def log_to(path: str | Path) -> None:
    """Send this process's stdout and stderr to the rule's log file for the rest of its life: Python's output,
    the C libraries' (pyarrow, matplotlib) and the traceback of an error that ends the script, which is why the
    file descriptors are redirected and never restored."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
