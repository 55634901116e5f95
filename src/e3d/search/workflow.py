"""Helpers for workflow/rules/search.smk (kept in the library so the rule file holds only rules)."""

from __future__ import annotations

import json
import shlex
from typing import Any


def search_cli_args(search: dict[str, Any], run: str, runs: dict[str, Any] | None = None) -> str:
    """The `e3d search` flags of one run plus the shared settings; `runs` (default config["search"]["runs"])
    may hold runs other stages derive (the Table 7 searches)."""
    r = (search["runs"] if runs is None else runs)[run]
    args = [
        f"--max-layers {r['max_layers']}",
        f"--resolution {r['resolution']}",
        f"--frames {r['frames']}",
        f"--iterations {r['iterations']}",
        f"--population {r['population']}",
        f"--seed {r['seed']}",
        f"--score {r['score']}",
        f"--kernels {r['kernels']}",
        f"--template {r['template']}",
        f"--lanes {search['lanes']}",
        # the authors' rule (merge after population-size steps) unless set: the value is in the command line, so a
        # changed population or rule reruns the search
        f"--sync-every {search['sync_every'] or r['population']}",
        f"--topk {search['topk']}",
    ]
    for key in ("budget_gflops", "budget_params", "alpha_resolution"):
        if r.get(key) is not None:
            args.append(f"--{key.replace('_', '-')} {r[key]}")
    if r.get("score_options"):
        args.append(f"--score-options {shlex.quote(json.dumps(r['score_options'], sort_keys=True))}")
    return " ".join(args)


def search_code_stage(run: dict[str, Any]) -> str:
    """The STAGE_MODULES entry a run's results depend on: a forward score also runs the PyTorch builder."""
    from e3d.score.registry import get

    return "search_forward" if get(run.get("score", "stentr")).kind == "forward" else "search"
