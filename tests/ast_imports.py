"""Reading import statements from source, shared by the import-graph, code-digest and DAG-helper tests."""

from __future__ import annotations

import ast


def is_type_checking_block(node: ast.AST) -> bool:
    """`if TYPE_CHECKING:` (or `typing.TYPE_CHECKING`): imports for annotations only, never executed."""
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def runtime_nodes(tree: ast.AST):
    """Every node but those in the body of `if TYPE_CHECKING:` (annotations only, never imported when the code
    runs); the block's `else:` runs, so its nodes are kept."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if is_type_checking_block(child):
                todo += child.orelse
            else:
                todo.append(child)
