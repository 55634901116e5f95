"""Helpers for workflow/rules/search.smk (kept in the library so the rule file holds only rules)."""

from __future__ import annotations

from typing import Any

from e3d.cliflags import to_flags


# The flags' order in the rule's command line as it has always been: a reordered command line is a changed param,
# which would rerun finished searches. Keys not listed here (new ones) follow in SearchConfig's order.
FLAG_ORDER = ("max_layers", "resolution", "frames", "iterations", "population", "seed", "score", "kernels", "template",
              "lanes", "sync_every", "topk", "budget_gflops", "budget_params", "alpha_resolution", "score_options")


def search_cli_args(search: dict[str, Any], run: str, runs: dict[str, Any] | None = None) -> str:
    """The `e3d search` flags of one run plus the shared settings (the keys SearchConfig declares for the workflow);
    `runs` (default config["search"]["runs"]) may hold runs other stages derive (the Table 7 searches)."""
    from e3d.search.engine import RUN_KEYS, SHARED_KEYS

    r = (search["runs"] if runs is None else runs)[run]
    values = {**{key: r.get(key) for key in RUN_KEYS}, **{key: search[key] for key in SHARED_KEYS}}
    # the authors' rule (merge after population-size steps) unless set: the value is in the command line, so a
    # changed population or rule reruns the search
    values["sync_every"] = search["sync_every"] or r["population"]
    values["score_options"] = values["score_options"] or None  # none for the analytic scores
    rank = {key: i for i, key in enumerate(FLAG_ORDER)}
    return to_flags({key: values[key] for key in sorted(values, key=lambda k: rank.get(k, len(rank)))})


def search_code_stage(run: dict[str, Any]) -> str:
    """The STAGE_MODULES entry a run's results depend on: a forward score also runs the PyTorch builder."""
    from e3d.score.registry import get

    return "search_forward" if get(run.get("score", "stentr")).kind == "forward" else "search"
