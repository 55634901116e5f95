"""Every e3d module imports, and the e3d import graph has no cycles.

The rule: the graph of every import of an e3d module by an e3d module, at module level *and* inside functions,
is acyclic, between modules and between packages (e3d.arch, e3d.score, ..., with the top-level modules such as
e3d.provenance as nodes of their own). Importing `e3d.a.b` also imports the package `e3d.a`, so that is an edge
too (except into a package the importer itself belongs to, which Python has initialised first). Imports under
`if TYPE_CHECKING:` are for annotations only, never run, and are no edges.

A function-level ("late") import is allowed only to defer cost: a heavy optional dependency (torch, fvcore, av,
pandas, ...) or an e3d module that pulls one in, so that Snakemake's DAG build and `e3d --help` stay light. It is
never a way around a cycle: since late imports count as edges here, a cycle they would hide fails this test. The
cure for a cycle is to move the shared piece into the module it belongs to (or one both can import).
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

from ast_imports import runtime_nodes

SRC = Path(__file__).resolve().parents[1] / "src"


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted((SRC / "e3d").rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imported(module: str, node: ast.Import | ast.ImportFrom, is_package: bool) -> set[str]:
    """The e3d modules (and their packages) that one import statement of `module` loads."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:  # relative: from . import x / from ..a import b
            parts = module.split(".") if is_package else module.split(".")[:-1]
            parts = parts[: len(parts) - (node.level - 1)]
            base = ".".join(parts + ([base] if base else []))
        names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
    loaded = set()
    for name in names:
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            prefix = ".".join(parts[:i])
            if prefix in MODULES and prefix != module and not module.startswith(prefix + "."):
                loaded.add(prefix)
    return loaded


def import_graph() -> dict[str, set[str]]:
    """module -> the e3d modules it imports anywhere in its source (module level or in a function)."""
    graph = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        edges: set[str] = set()
        for node in runtime_nodes(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                edges |= _imported(module, node, path.name == "__init__.py")
        graph[module] = edges
    return graph


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The same edges between e3d's packages (and top-level modules): e3d.score.registry -> e3d.score."""
    def node(module: str) -> str:
        return ".".join(module.split(".")[:2])

    out: dict[str, set[str]] = {node(m): set() for m in graph if m != "e3d"}
    for module, targets in graph.items():
        for target in targets:
            if module != "e3d" and target != "e3d" and node(target) != node(module):
                out[node(module)].add(node(target))
    return out


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(v: str) -> list[str] | None:
        state[v] = 1
        path.append(v)
        for w in sorted(graph.get(v, ())):
            if state.get(w) == 1:
                return path[path.index(w):] + [w]
            if w not in state:
                found = visit(w)
                if found:
                    return found
        path.pop()
        state[v] = 2
        return None

    for v in sorted(graph):
        if v not in state:
            found = visit(v)
            if found:
                return found
    return None


def test_find_cycle_sees_a_cycle_through_a_late_import():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_import_graph_reads_late_and_relative_imports(tmp_path):
    tree = ast.parse("import os\ndef f():\n    from e3d.score.registry import get\n    from . import entropy\n")
    imports = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    loaded = set().union(*(_imported("e3d.score.zen", n, False) for n in imports))
    assert loaded == {"e3d.score.registry", "e3d.score.entropy"}  # not e3d (own package), not os


def test_no_import_cycles_between_modules():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle (late imports count): " + " -> ".join(cycle)


def test_no_import_cycles_between_packages():
    cycle = find_cycle(package_graph(import_graph()))
    assert cycle is None, "package import cycle (late imports count): " + " -> ".join(cycle)


def test_every_module_imports():
    for module in MODULES:
        importlib.import_module(module)
