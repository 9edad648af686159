"""Stage 03: only /mcp and below needs the key; the rest of the app is public.

Beyond the plain table, this stage probes what an attacker would try: other
methods, encoded and dotted paths, the key in the wrong place, odd header
values, a live session id without a key, and the server behind a reverse proxy.
"""

from __future__ import annotations

import pytest

from grader.checks.common import test_imports, test_server_starts  # noqa: F401  (run first)
from grader.compare import expect_like_reference
from grader.launch import PROXY_ROOT
from grader.mcp_session import sse_session
from grader.probes import Probe, ensure_answering, key_variants, live_session, send
from grader.verdict import CheckFailed, check

STAGE = "03-prefix-only"
KEY = "super_secret_value"
PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                         "clientInfo": {"name": "attacker", "version": "1"}}}
ROOT_PATH = PROXY_ROOT


def probe(method, path, headers=(), body=None, note="no X-API-Key header", outcome="refused", raw=False):
    return Probe(method, path, tuple(headers), body, note=note, outcome=outcome, raw=raw)


PUBLIC = [
    probe("GET", "/items/", outcome="public"),
    probe("GET", "/docs", outcome="public"),
    probe("GET", "/openapi.json", outcome="public"),
]

KEYED = [
    Probe(method, path, headers, body, note=words, outcome=outcome)
    for method, path, body in [("GET", "/mcp/sse", None), ("POST", "/mcp/messages/", PING)]
    for headers, words, outcome in key_variants(KEY)
]

ATTACKS = [
    probe("GET", "/%6Dcp/sse", note="a percent-encoded letter, no key", outcome="kept out"),
    probe("GET", "/mcp%2Fsse", note="an encoded slash, no key", outcome="kept out"),
    probe("GET", "/mcp//sse", note="a double slash, no key", outcome="kept out"),
    probe("GET", "/./mcp/sse", note="a dot segment, no key", raw=True, outcome="kept out"),
    probe("GET", "/items/../mcp/sse", note="dot-dot from a public path, no key", raw=True, outcome="kept out"),
    probe("GET", "/MCP/sse", note="upper case, no key", outcome="kept out"),
    probe("GET", "/mcpx", note="a longer path that is not the mount, no key", outcome="kept out"),
    probe("GET", f"/mcp/sse?X-API-Key={KEY}", note="the key in the query string", outcome="kept out"),
    probe("GET", "/mcp/sse", [("Authorization", f"Bearer {KEY}")], note="the key as a bearer token", outcome="kept out"),
    probe("GET", "/mcp/sse", [("X-API-Key", "sécrét".encode())], note="a non-ASCII key", outcome="kept out"),
    probe("GET", "/mcp/sse", [("X-API-Key", KEY), ("X-API-Key", "wrong")], note="the header twice: right, wrong", outcome="kept out"),
    probe("GET", "/mcp/sse", [("X-API-Key", "wrong"), ("X-API-Key", KEY)], note="the header twice: wrong, right", outcome="kept out"),
]

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]
MOUNT_PATHS = ["/mcp", "/mcp/", "/mcp/sse", "/mcp/messages/"]


def judge(student, reference, row, stage, *, hint_in: str = "prefix"):
    expect_like_reference(row, send(student, row), send(reference, row),
                          let_in_hint=stage.hint("public") if row.outcome == "public" else stage.hint("prefix"),
                          keep_out_hint=stage.hint(hint_in), reference_with_key=send(reference, row.with_key(KEY)))


@pytest.mark.parametrize("row", PUBLIC, ids=[row.title for row in PUBLIC])
def test_public_route(row, student, reference, stage):
    """{id}"""
    judge(student, reference, row, stage)


@pytest.mark.parametrize("path", MOUNT_PATHS)
def test_every_method_is_refused_without_a_key(path, student, reference, stage):
    """every HTTP method on {id} without a key is refused"""
    for method in METHODS:
        row = probe(method, path, body=PING if method in ("POST", "PUT", "PATCH") else None)
        judge(student, reference, row, stage)


@pytest.mark.parametrize("row", KEYED, ids=[row.title for row in KEYED])
def test_key_table(row, student, reference, stage):
    """{id}"""
    hint_in = "messages" if "messages" in row.path else "prefix"
    judge(student, reference, row, stage, hint_in=hint_in)


@pytest.mark.parametrize("row", ATTACKS, ids=[row.title for row in ATTACKS])
def test_attack(row, student, reference, stage):
    """{id}"""
    hint = {"a non-ASCII key": "bytes", "the header twice: right, wrong": "duplicates",
            "the header twice: wrong, right": "duplicates"}.get(row.note, "prefix")
    judge(student, reference, row, stage, hint_in=hint)


def test_a_live_session_id_without_the_key_is_refused(student, stage):
    """POST to a live session's message endpoint without the key is refused"""
    with live_session(student, KEY) as message_path:
        row = probe("POST", message_path, body=INITIALIZE, note="session id from a keyed stream, no key")
        got = send(student, row)
        check(got.status == 401 and got.challenge is not None, sent=row.describe(), got=got.describe(),
              expected="401 Unauthorized with a WWW-Authenticate header: whoever learns a session id "
                       "(it is in the access log) must not run tools with it",
              hint=stage.hint("messages"))




PROXIED = [
    probe("GET", "/mcp/sse"),
    probe("POST", "/mcp/messages/", body=PING),
    probe("GET", "/items/", outcome="public"),
    probe("GET", "/mcp/sse", [("X-API-Key", KEY)], note=f"X-API-Key: {KEY}", outcome="let through"),
]


@pytest.mark.parametrize("row", PROXIED, ids=[f"behind a proxy (--root-path {ROOT_PATH}): {row.title}"
                                              for row in PROXIED])
def test_behind_a_reverse_proxy(row, behind_proxy, stage):
    """{id}"""
    mine, theirs = behind_proxy
    judge(mine, theirs, row, stage, hint_in="root_path")


def test_mcp_session_with_the_key(student, reference, stage):
    """an MCP client with the key lists the tools and calls get_items"""
    ensure_answering(student)
    got = sse_session(student.base_url + stage.endpoint, {"X-API-Key": KEY}, "get_items")
    expected = sse_session(reference.base_url + stage.endpoint, {"X-API-Key": KEY}, "get_items")
    check(got.ok and got.tools == expected.tools and got.structured == expected.structured,
          sent=f"MCP session over SSE to {stage.endpoint} with X-API-Key: initialize, list_tools, call_tool get_items",
          got=got.describe(), expected=expected.describe(), hint=stage.hint("prefix"))


def test_mcp_session_without_the_key_is_refused(student, stage):
    """an MCP client without the key is refused with 401"""
    ensure_answering(student)
    got = sse_session(student.base_url + stage.endpoint, {}, "get_items")
    if "401" not in got.error:
        raise CheckFailed(sent=f"MCP session over SSE to {stage.endpoint} with no X-API-Key header",
                          got=got.describe() if got.error else f"the session worked: {got.describe()}",
                          expected="the connection refused with 401 Unauthorized", hint=stage.hint("prefix"))
