"""Read student code as text (never run it) for what behaviour alone cannot show: how the key is compared.

A timing leak does not show in one request's answer, so this is judged from the
source. The rule is about *what* is compared: a comparison is flagged only when
one side is the configured key or a value read from the request's credential
(directly or through a variable assigned from one), and never when it compares
header names, lengths, or a value with a literal (`if not key`, `key == ""`).
"""

from __future__ import annotations

import ast
from pathlib import Path

SECRET_WORDS = ("key", "secret", "token", "presented", "supplied", "provided", "credential", "password")
NOT_SECRET_WORDS = ("header_name", "headername", "name")  # header names are not secrets
ORDERING_CALLS = {"startswith", "endswith", "find", "index", "count"}
EQUALITY_FUNCTIONS = {"eq", "ne", "contains", "is_", "is_not"}


def _identifiers(node: ast.AST) -> list[str]:
    return [part.id if isinstance(part, ast.Name) else part.attr
            for part in ast.walk(node) if isinstance(part, (ast.Name, ast.Attribute))]


class _Reader:
    def __init__(self, tree: ast.AST) -> None:
        self.tree = tree
        self.digest_names = {"compare_digest"}  # what calling compare_digest looks like in this file
        self.modules = {"hmac", "secrets"}
        self.tainted: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module in ("hmac", "secrets"):
                for alias in node.names:
                    if alias.name == "compare_digest":
                        self.digest_names.add(alias.asname or alias.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in ("hmac", "secrets"):
                        self.modules.add(alias.asname or alias.name)
        self._taint()

    def _is_secret_name(self, name: str) -> bool:
        lowered = name.lower()
        if any(word in lowered for word in NOT_SECRET_WORDS) and "value" not in lowered:
            return False
        return any(word in lowered for word in SECRET_WORDS) or name in self.tainted

    def _taint(self) -> None:
        """Variables assigned from the request's headers or from a secret (values, not names)."""
        for _ in range(3):  # a few rounds follow short chains: a = headers.get(); b = a.strip()
            for node in ast.walk(self.tree):
                targets, value = [], None
                if isinstance(node, ast.Assign):
                    targets, value = node.targets, node.value
                elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and node.value is not None:
                    targets, value = [node.target], node.value
                if value is None:
                    continue
                source = _identifiers(value)
                reads_headers = any(name in ("headers", "getlist", "get_list") for name in source)
                if reads_headers or any(self._is_secret_name(name) for name in source):
                    for target in targets:
                        for name in _identifiers(target):
                            self.tainted.add(name)

    @staticmethod
    def header_name(node: ast.AST) -> bool:
        """Whether NODE names a header (HEADER, self._header_name): comparing names leaks nothing."""
        names = _identifiers(node)
        return bool(names) and any(name.lower().endswith(("header_name", "headername")) or name == "HEADER"
                                   or name.lower() in ("header", "name") for name in names[:1])

    def secret(self, node: ast.AST) -> bool:
        """Whether NODE is the key or a value derived from the presented credential."""
        if isinstance(node, ast.Constant):
            return False
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "len":
            return False
        names = _identifiers(node)
        return any(self._is_secret_name(name) for name in names) or "headers" in names

    def calls_compare_digest(self, node: ast.Call) -> bool:
        func = node.func
        if isinstance(func, ast.Name):
            return func.id in self.digest_names
        if isinstance(func, ast.Attribute):
            return func.attr == "compare_digest"
        return False

    def leaks(self) -> list[ast.AST]:
        found = []
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Compare):
                operands = [node.left, *node.comparators]
                if any(isinstance(op, (ast.Is, ast.IsNot)) for op in node.ops):
                    continue  # `x is None`: presence, not content
                if any(isinstance(operand, ast.Constant) for operand in operands):
                    continue  # a presence test against a literal
                if any(self.header_name(operand) for operand in operands):
                    continue  # comparing header names
                if any(self.secret(operand) for operand in operands):
                    found.append(node)
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                attribute = node.func
                receiver_is_operator = isinstance(attribute.value, ast.Name) and attribute.value.id == "operator"
                if attribute.attr in ORDERING_CALLS and not receiver_is_operator:
                    if self.secret(attribute.value) or any(self.secret(arg) for arg in node.args):
                        found.append(node)
                elif receiver_is_operator and attribute.attr in EQUALITY_FUNCTIONS:
                    if any(self.secret(arg) for arg in node.args):
                        found.append(node)
        return found


def key_comparisons(source: str) -> tuple[bool, list[str]]:
    """(uses compare_digest, the lines that compare the key some other way)."""
    tree = ast.parse(source)
    reader = _Reader(tree)
    uses = any(isinstance(node, ast.Call) and reader.calls_compare_digest(node) for node in ast.walk(tree))
    leaks = sorted(reader.leaks(), key=lambda node: node.lineno)
    return uses, [f"line {node.lineno}: {ast.unparse(node)}" for node in leaks]


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def string_literals(folder: Path) -> set[str]:
    """Every string literal in the student's Python files (what a server might fall back to as a key)."""
    found: set[str] = set()
    for path in sorted(folder.glob("*.py")):
        try:
            tree = ast.parse(read(path))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                value = node.value.strip()  # HTTP strips a header value's ends: send what can arrive
                if 3 <= len(value) <= 200 and value.isprintable() and value.isascii():
                    found.add(value)
    return found
