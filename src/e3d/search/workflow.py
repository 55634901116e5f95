"""Helpers for workflow/rules/search.smk (kept in the library so the rule file holds only rules)."""

from __future__ import annotations

from typing import Any


def search_cli_args(search: dict[str, Any], run: str) -> str:
    """The `e3d search` flags of one entry of config["search"]["runs"] plus the shared settings."""
    r = search["runs"][run]
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
        f"--sync-every {search['sync_every']}",
        f"--topk {search['topk']}",
    ]
    for key in ("budget_gflops", "budget_params", "alpha_resolution"):
        if r.get(key) is not None:
            args.append(f"--{key.replace('_', '-')} {r[key]}")
    return " ".join(args)
