"""Read student code as text (never run it) for what behaviour alone cannot show."""

from __future__ import annotations

import ast
from pathlib import Path


def _names(node: ast.AST) -> set[str]:
    return {part.id if isinstance(part, ast.Name) else part.attr
            for part in ast.walk(node) if isinstance(part, (ast.Name, ast.Attribute))}


def key_comparisons(source: str) -> tuple[bool, list[str]]:
    """(uses compare_digest, the lines that compare a key with == or != instead).

    Only comparisons between two non-literal values that mention a key count:
    `if api_key == ""` is a presence test, `if supplied == self._key` is a timing leak.
    """
    tree = ast.parse(source)
    uses_compare_digest = any(
        isinstance(node, ast.Call) and "compare_digest" in _names(node.func) for node in ast.walk(tree)
    )
    leaks = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare) or not any(isinstance(op, (ast.Eq, ast.NotEq)) for op in node.ops):
            continue
        operands = [node.left, *node.comparators]
        if any(isinstance(operand, ast.Constant) for operand in operands):
            continue
        if any("key" in name.lower() for name in _names(node)):
            leaks.append(f"line {node.lineno}: {ast.unparse(node)}")
    return uses_compare_digest, leaks


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")
