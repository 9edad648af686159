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
ORDERING_CALLS = {"startswith", "endswith", "find", "index", "count"}
EQUALITY_FUNCTIONS = {"eq", "ne", "contains", "is_", "is_not"}


def _identifiers(node: ast.AST) -> list[str]:
    return [part.id if isinstance(part, ast.Name) else part.attr
            for part in ast.walk(node) if isinstance(part, (ast.Name, ast.Attribute))]


def _dotted(node: ast.AST) -> list[str]:
    """The outermost names in NODE, dotted: `self._key`, `API_KEY`, `request.headers.get`."""
    found, inner = [], set()
    for part in ast.walk(node):
        if isinstance(part, (ast.Name, ast.Attribute)) and id(part) not in inner:
            found.append(ast.unparse(part))
            inner |= {id(sub) for sub in ast.walk(part) if sub is not part}
    return found


def _header_name(name: str) -> bool:
    last = name.rsplit(".", 1)[-1]
    lowered = last.lower()
    return "header" in lowered or lowered in ("name", "key_name") or lowered.endswith("_name")


def _literal(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return all(_literal(element) for element in node.elts)
    return False


class _Reader:
    def __init__(self, tree: ast.AST) -> None:
        self.tree = tree
        self.digest_names = {"compare_digest"}  # what calling compare_digest looks like in this file
        self.tainted: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module in ("hmac", "secrets"):
                for alias in node.names:
                    if alias.name == "compare_digest":
                        self.digest_names.add(alias.asname or alias.name)
        self._taint()

    def _secret_name(self, name: str) -> bool:
        """`API_KEY`, `self._key`, `presented`: a name that holds the key or the presented credential."""
        if name in self.tainted:
            return True
        if _header_name(name):
            return False
        last = name.rsplit(".", 1)[-1].lower()
        if last.endswith(("_id", "_ids")) or last in ("kid", "keys", "key_ids"):
            return False  # a key's id, a folder of keys: names, not secrets
        return any(word in last for word in SECRET_WORDS)

    def _reads_key_header(self, node: ast.AST) -> bool:
        """headers.get(X) / headers.getlist(X) / headers[X], where X names the key header (not User-Agent)."""
        for part in ast.walk(node):
            argument = None
            if isinstance(part, ast.Call) and isinstance(part.func, ast.Attribute) \
                    and part.func.attr in ("get", "getlist", "get_list") and "headers" in _identifiers(part.func) \
                    and part.args:
                argument = part.args[0]
            elif isinstance(part, ast.Subscript) and "headers" in _identifiers(part.value):
                argument = part.slice
            if argument is None:
                continue
            if isinstance(argument, ast.Constant) and isinstance(argument.value, (str, bytes)):
                text = argument.value.decode(errors="replace") if isinstance(argument.value, bytes) else argument.value
                if any(word in text.lower() for word in ("key", "auth", "token")):
                    return True
            elif any(_header_name(name) for name in _dotted(argument)):
                return True
        return False

    def _taint(self) -> None:
        """Names assigned from the key header's values, or from a secret, hold a secret too."""
        for _ in range(3):  # a few rounds follow short chains: a = headers.get(); b = a.strip()
            for node in ast.walk(self.tree):
                targets, value = [], None
                if isinstance(node, ast.Assign):
                    targets, value = node.targets, node.value
                elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and node.value is not None:
                    targets, value = [node.target], node.value
                if value is None:
                    continue
                from_headers = "headers" in _identifiers(value) and not self._only_names_read(value)
                if from_headers or self._reads_key_header(value) or any(self._secret_name(n) for n in _dotted(value)):
                    for target in targets:
                        for element in (target.elts if isinstance(target, ast.Tuple) else [target]):
                            if isinstance(element, (ast.Name, ast.Attribute)) and not _header_name(ast.unparse(element)):
                                self.tainted.add(ast.unparse(element))

    @staticmethod
    def _only_names_read(value: ast.AST) -> bool:
        """A header read by a constant name that is not the key's (User-Agent, X-Forwarded-For)."""
        calls = [part for part in ast.walk(value) if isinstance(part, ast.Call) and part.args
                 and isinstance(part.args[0], ast.Constant)]
        return bool(calls) and all(isinstance(call.args[0].value, str) and not any(
            word in call.args[0].value.lower() for word in ("key", "auth", "token")) for call in calls)

    def secret(self, node: ast.AST) -> bool:
        """Whether NODE is the key or a value derived from the presented credential."""
        if _literal(node):
            return False
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "len":
            return False
        if self._reads_key_header(node):
            return True
        return any(self._secret_name(name) for name in _dotted(node))

    def header_name(self, node: ast.AST) -> bool:
        names = _dotted(node)
        return bool(names) and all(_header_name(name) for name in names) and not self._reads_key_header(node)

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
                if any(_literal(operand) for operand in operands):
                    continue  # a presence test against a literal (or a tuple of literals)
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

    def printed(self) -> list[ast.AST]:
        """print(...) and logging calls that are handed a secret (the key itself, or what a client presented)."""
        found = []
        for node in ast.walk(self.tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            named = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            receiver = ast.unparse(func.value).lower() if isinstance(func, ast.Attribute) else ""
            logs = named in ("debug", "info", "warning", "warn", "error", "critical", "exception", "log") and \
                ("log" in receiver)
            if named == "print" or logs:
                values = []
                for arg in [*node.args, *(keyword.value for keyword in node.keywords if keyword.arg != "file")]:
                    values += [part.value for part in arg.values if isinstance(part, ast.FormattedValue)] \
                        if isinstance(arg, ast.JoinedStr) else [arg]
                if any(self.secret(value) for value in values):
                    found.append(node)
        return found


def key_comparisons(source: str) -> tuple[bool, list[str]]:
    """(uses compare_digest, the lines that compare the key some other way)."""
    tree = ast.parse(source)
    reader = _Reader(tree)
    uses = any(isinstance(node, ast.Call) and reader.calls_compare_digest(node) for node in ast.walk(tree))
    leaks = sorted(reader.leaks(), key=lambda node: node.lineno)
    return uses, [f"line {node.lineno}: {ast.unparse(node)}" for node in leaks]


DIGEST_WORDS = ("digest", "hash")
EQUALITY = (ast.Eq, ast.NotEq, ast.In, ast.NotIn)


def _digest_valued(node: ast.AST, held: set[str]) -> bool:
    """Whether NODE holds a digest: a hash function's result (`digest(...)`, `hmac.new(...).digest()`),
    a stored hash read by its column (`row["secret_hash"]`), or a name that holds one."""
    for part in ast.walk(node):
        if isinstance(part, ast.Call):
            func = part.func
            named = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if named != "compare_digest" and any(word in named.lower() for word in DIGEST_WORDS):
                return True
        elif isinstance(part, ast.Subscript) and isinstance(part.slice, ast.Constant) \
                and isinstance(part.slice.value, str) and any(w in part.slice.value.lower() for w in DIGEST_WORDS):
            return True
        elif isinstance(part, (ast.Name, ast.Attribute)):
            name = ast.unparse(part)
            if name in held or any(word in name.rsplit(".", 1)[-1].lower() for word in DIGEST_WORDS):
                return True
    return False


def digest_comparisons(source: str) -> tuple[bool, list[str]]:
    """(uses compare_digest, the lines that compare a digest with ==, !=, in): stage 05 compares the keyed hash of
    the presented key with the stored one, and the names there are digests and hashes, not keys."""
    tree = ast.parse(source)
    held: set[str] = set()
    for _ in range(3):  # names assigned from a digest hold one: presented = digest(...); stored = row["hash"]
        for node in ast.walk(tree):
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None \
                    and _digest_valued(node.value, held):
                for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                    for element in target.elts if isinstance(target, ast.Tuple) else [target]:
                        if isinstance(element, (ast.Name, ast.Attribute)):
                            held.add(ast.unparse(element))
    reader = _Reader(tree)
    uses = any(isinstance(node, ast.Call) and reader.calls_compare_digest(node) for node in ast.walk(tree))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and all(isinstance(op, EQUALITY) for op in node.ops):
            operands = [node.left, *node.comparators]
            if any(_literal(operand) or (isinstance(operand, ast.Call) and isinstance(operand.func, ast.Name)
                                         and operand.func.id in ("len", "type", "isinstance"))
                   for operand in operands):
                continue
            if any(_digest_valued(operand, held) for operand in operands):
                found.append(node)
    return uses, [f"line {node.lineno}: {ast.unparse(node)}" for node in sorted(found, key=lambda n: n.lineno)]


def key_printed(source: str) -> list[str]:
    """The lines that hand the key (or a presented credential) to print() or a logger."""
    reader = _Reader(ast.parse(source))
    return [f"line {node.lineno}: {ast.unparse(node)}" for node in sorted(reader.printed(), key=lambda n: n.lineno)]


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def _folded(node: ast.AST) -> str | None:
    """The string a constant expression builds: "a" + "b", f"ab", "".join(["a", "b"]), else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _folded(node.left), _folded(node.right)
        return None if left is None or right is None else left + right
    if isinstance(node, ast.JoinedStr) and all(isinstance(part, ast.Constant) for part in node.values):
        return "".join(part.value for part in node.values)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "join" \
            and len(node.args) == 1 and isinstance(node.args[0], (ast.List, ast.Tuple)):
        glue, parts = _folded(node.func.value), [_folded(element) for element in node.args[0].elts]
        return None if glue is None or None in parts else glue.join(parts)
    return None


def string_literals(folder: Path) -> set[str]:
    """Every string the student's Python files spell out, folded where built from pieces
    ("work" + "shop"): what a server might fall back to as a key, or read a key from."""
    found: set[str] = set()
    for path in sorted(folder.glob("*.py")):
        try:
            tree = ast.parse(read(path))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            value = _folded(node)
            if value is not None:
                value = value.strip()  # HTTP strips a header value's ends: send what can arrive
                if 3 <= len(value) <= 200 and value.isprintable() and value.isascii():
                    found.add(value)
    return found
