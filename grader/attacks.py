"""The one table of credentials an attacker (or a sloppy client) tries on an API-key guard.

Every stage whose guard the student writes or owns sends every row of it, and
each answer must match the reference solution's. Rows are symbolic: they build
their request from the run's key when the check runs, so the key stays random
per run and the rows keep stable names (a test checks that no stage skips one).
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Callable

from hypothesis import strategies as st

from grader.probes import Probe

HEADER = "X-API-Key"

Headers = tuple[tuple[str, str | bytes], ...]


@dataclass(frozen=True)
class KeyRow:
    """One way to present (or nearly present) the key."""

    name: str  # stable, shown in the report
    headers: Callable[[str], Headers]
    let_in: bool = False  # True only for the right key, presented rightly
    query: Callable[[str], dict[str, str]] | None = None  # the key in the URL instead

    def query_string(self, key: str, marker: str) -> str:
        """The query part of the URL, tagged with the run's probe marker so a leak check can tell
        the grader's own deliberate key-in-URL request from a real leak."""
        if self.query is None:
            return ""
        pairs = {**self.query(key), "grader_probe": marker}
        return "?" + "&".join(f"{name}={value}" for name, value in pairs.items())


def _one(value: Callable[[str], str | bytes], name: str = HEADER) -> Callable[[str], Headers]:
    return lambda key: ((name, value(key)),)


def _swap_case(key: str) -> str:
    swapped = key.swapcase()
    return swapped if swapped != key else key + "A"


QUERY_NAMES = ["api_key", "apikey", "key", "token", "X-API-Key", "access_token", "auth"]

# Headers a client sets to pose as a proxy: a guard must not let them stand in for the key.
FORGED_PROXY_HEADERS = [
    ("X-Forwarded-For", "127.0.0.1"), ("X-Real-IP", "127.0.0.1"), ("Forwarded", "for=127.0.0.1;proto=https"),
    ("X-Forwarded-Prefix", "/mcp"), ("X-Original-URL", "/items/"), ("X-Forwarded-Host", "localhost"),
]

KEY_ROWS: list[KeyRow] = [
    KeyRow("no X-API-Key header", lambda key: ()),
    KeyRow("X-API-Key: '' (empty)", _one(lambda key: "")),
    KeyRow("a wrong key", _one(lambda key: "not-the-key")),
    KeyRow("the key", _one(lambda key: key), let_in=True),
    KeyRow("the key, header name in lower case", _one(lambda key: key, HEADER.lower()), let_in=True),
    KeyRow("the key less its last character", _one(lambda key: key[:-1])),
    KeyRow("the key less its first character", _one(lambda key: key[1:])),
    KeyRow("the first half of the key", _one(lambda key: key[: len(key) // 2])),
    KeyRow("the key with a character appended", _one(lambda key: key + "x")),
    KeyRow("the key with a character in front", _one(lambda key: "x" + key)),
    KeyRow("the key twice in one value", _one(lambda key: key + key)),
    KeyRow("the key in other letter case", _one(_swap_case)),
    KeyRow("the key with a space inside", _one(lambda key: key[: len(key) // 2] + " " + key[len(key) // 2:])),
    KeyRow("the key, a comma, another value", _one(lambda key: key + ", wrong")),
    KeyRow("a non-ASCII key", _one(lambda key: "sécrét".encode())),
    KeyRow("the key with a non-ASCII byte appended", _one(lambda key: key.encode() + "é".encode())),
    KeyRow("the key with a latin-1 no-break space appended", _one(lambda key: key.encode() + b"\xa0")),
    KeyRow("the header twice: right, wrong", lambda key: ((HEADER, key), (HEADER, "wrong"))),
    KeyRow("the header twice: wrong, right", lambda key: ((HEADER, "wrong"), (HEADER, key))),
    KeyRow("the key as a bearer token", _one(lambda key: f"Bearer {key}", "Authorization")),
    KeyRow("the key in a cookie", _one(lambda key: f"api_key={key}; X-API-Key={key}", "Cookie")),
    *[KeyRow(f"the key in the query string as {name}", lambda key: (), query=lambda key, name=name: {name: key})
      for name in QUERY_NAMES],
    KeyRow("no key, and every header a proxy would set, claiming loopback", lambda key: tuple(FORGED_PROXY_HEADERS)),
]

ROW_NAMES = [row.name for row in KEY_ROWS]


def probe(row: KeyRow, key: str, marker: str, method: str, path: str, body: dict | None = None,
          extra: tuple[tuple[str, str], ...] = ()) -> Probe:
    """ROW's request to METHOD PATH, built with the run's KEY; what the report shows never holds the key."""
    query = row.query_string(key, marker)
    shown = path + (query.replace(key, "<the key>") if query else "")
    return Probe(method, path + query, (*extra, *row.headers(key)), body, note=row.name,
                 outcome="let through" if row.let_in else "refused", shown_path=shown)

# Every method a guard must stop, not only the ones MCP clients use.
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]


# -- near misses nobody listed: random edits of the right key, for a differential property check --

_ALPHABET = string.ascii_letters + string.digits + "-_.~+/= "


@st.composite
def near_misses(draw, key: str) -> bytes:
    """The key after one to three random edits: insert (anywhere, ends included), delete, replace,
    change the case of a letter or of the whole key, add a non-ASCII character."""
    value, raw_tail = list(key), b""
    for _ in range(draw(st.integers(1, 3))):
        edit = draw(st.sampled_from(["insert", "append", "prepend", "delete", "replace", "case", "all-case",
                                     "non-ascii", "latin-1"]))
        at = draw(st.integers(0, max(len(value) - 1, 0)))
        if edit == "insert":
            value.insert(draw(st.integers(0, len(value))), draw(st.sampled_from(_ALPHABET)))
        elif edit == "append":
            value.append(draw(st.sampled_from(_ALPHABET)))
        elif edit == "prepend":
            value.insert(0, draw(st.sampled_from(_ALPHABET)))
        elif edit == "delete" and value:
            del value[at]
        elif edit == "replace" and value:
            value[at] = draw(st.sampled_from(_ALPHABET))
        elif edit == "case":
            letters = [index for index, char in enumerate(value) if char.isalpha()]
            if letters:
                index = draw(st.sampled_from(letters))
                value[index] = value[index].swapcase()
        elif edit == "all-case":
            value = list("".join(value).swapcase())
        elif edit == "latin-1":  # a raw byte no UTF-8 text holds, as a sloppy .strip() or decode sees it
            raw_tail += draw(st.sampled_from([b"\xa0", b"\x85", b"\xff"]))
        elif edit == "non-ascii":
            value.insert(draw(st.integers(0, len(value))), draw(st.sampled_from("éüß€\u00a0")))
    return "".join(value).encode("utf-8") + raw_tail
