"""Each workflow stage's code digest (e3d.provenance.STAGE_MODULES, a param of its rules) covers every e3d module its
jobs import: editing one of them reruns the stage's jobs, and editing any other module does not.

The jobs' e3d imports are walked from each stage's entry points (its `e3d` commands, the workflow scripts its rules
run, the package a stage's command dispatches into) through every import, at module level and inside functions, to
any depth. That over-approximates what one job runs (a command may import a module for another option): where a
stage deliberately leaves such a module out, EXEMPT says why, and a test checks the reason holds.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from ast_imports import runtime_nodes

from e3d.provenance import PACKAGE_ROOT, STAGE_MODULES, is_dag_only, module_files

SCRIPTS = PACKAGE_ROOT.parents[1] / "workflow" / "scripts"
# Error classes, terminal progress and the scripts' log redirection cannot change an artifact.
NEVER_IN_AN_ARTIFACT = {"errors.py", "progress.py", "script_log.py"}
# Entry points besides the stage's own `commands/*.py`.
EXTRA_ENTRIES: dict[str, list[Path]] = {
    "baselines": [p for p in (PACKAGE_ROOT / "baselines").rglob("*.py") if not is_dag_only(p)],
    "tables": [SCRIPTS / "table.py", SCRIPTS / "summary.py"],
    "search": [SCRIPTS / "x3d_kernel_variants.py"],
}
# Modules a stage's entry points import that its digest leaves out on purpose: stage -> (package-relative modules,
# the stage whose digest covers them where they are used).
EXEMPT: dict[str, tuple[tuple[str, ...], str]] = {
    # The PyTorch network code runs only for a forward-inference score (zen, madet); such a search's rules take the
    # search_forward stage's digest (e3d.search.workflow.search_code_stage).
    "search": (("models",), "search_forward"),
    # Only the Table 7 builder scores networks (STEntr, HomoEntr of each trained one); its rules add the search
    # stage (test_table7_rules_digest_the_scorer_they_call). The forward scores' network code comes with the score
    # registry and never runs for these two analytic scores.
    "tables": (("arch", "score", "models"), "search_forward"),
}
# The SGS stage has no job of its own: its modules join the train/evaluate digests (model kinds) and Table SGS's.
NO_JOBS = {"sgs"}


def _imported_e3d_files(path: Path) -> list[Path]:
    found = []
    for node in runtime_nodes(ast.parse(path.read_text())):
        names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "e3d":
            names += [f"{node.module}.{alias.name}" for alias in node.names]  # `from e3d.pkg import module`
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        for name in names:
            if not name.startswith("e3d."):
                continue
            rel = PACKAGE_ROOT.joinpath(*name.split(".")[1:])
            found += [f for f in (rel.with_suffix(".py"), rel / "__init__.py") if f.is_file()]
    return found


def import_closure(entries: list[Path]) -> set[Path]:
    """Every e3d source file the entries import, at any depth, the entries' own e3d files included."""
    todo, seen = list(entries), set()
    while todo:
        path = todo.pop()
        if path not in seen:
            seen.add(path)
            todo += _imported_e3d_files(path)
    return {p for p in seen if PACKAGE_ROOT in p.parents}


def _entries(stage: str) -> list[Path]:
    commands = [PACKAGE_ROOT / m for m in STAGE_MODULES[stage] if m.startswith("commands/")]
    return commands + EXTRA_ENTRIES.get(stage, [])


def test_every_stage_with_jobs_has_entry_points():
    for stage in STAGE_MODULES:
        assert stage in NO_JOBS or _entries(stage), f"stage {stage!r}: no entry points to walk"


@pytest.mark.parametrize("stage", sorted(set(STAGE_MODULES) - NO_JOBS))
def test_stage_code_digest_covers_every_e3d_module_its_jobs_import(stage):
    covered = set(module_files(*STAGE_MODULES[stage]))
    exempt_modules, covered_by = EXEMPT.get(stage, ((), ""))
    exempt = set(module_files(*exempt_modules))
    imported = import_closure(_entries(stage))
    imported -= {PACKAGE_ROOT / name for name in NEVER_IN_AN_ARTIFACT}
    missing = sorted(str(p.relative_to(PACKAGE_ROOT)) for p in imported - covered - exempt)
    assert missing == [], f"the {stage} stage's code digest leaves out modules its jobs import: {missing}"
    if exempt_modules:  # an exemption is still needed, and names modules digested where they run
        assert exempt & imported, f"{stage}: nothing exempt is imported any more; drop the exemption"
        assert exempt <= set(module_files(*STAGE_MODULES[covered_by]))


def test_the_walk_finds_a_module_left_out():
    # the check above can fail: drop one module the baselines jobs import and it is reported
    imported = import_closure(_entries("baselines"))
    narrowed = set(module_files(*(m for m in STAGE_MODULES["baselines"] if m != "tables/stats.py")))
    assert PACKAGE_ROOT / "tables" / "stats.py" in imported - narrowed


def test_table7_rules_digest_the_scorer_they_call():
    from e3d.tables.registry import TABLE_RULES

    table7 = [rule for rule in TABLE_RULES if rule.builder == "table7"]
    assert len(table7) == 2  # the main schedule and the long one
    assert {"score", "arch"} <= set(STAGE_MODULES["search"])
    for rule in table7:
        assert "search" in rule.code_stages, rule.rule
