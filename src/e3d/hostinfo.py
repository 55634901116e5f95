"""The machine a measurement ran on, in words: its CPU model (Table 4's search device, Table 13's profiles).

No imports beyond the standard library: the rule files read it while Snakemake builds the DAG.
"""

from __future__ import annotations

import platform
from pathlib import Path


def cpu_model_name() -> str:
    """This machine's CPU model ("model name" in /proc/cpuinfo), else what the platform module knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "CPU"
