"""Stage 01: ApiKeyMiddleware guards the whole app, the MCP endpoints included."""

from __future__ import annotations

import pytest

from grader.checks.common import test_imports, test_server_starts  # noqa: F401  (run first)
from grader.compare import expect_like_reference
from grader.mcp_session import sse_session
from grader.probes import Probe, ensure_answering, key_variants, send
from grader.verdict import check

STAGE = "01-middleware"
KEY = "super_secret_value"

ENDPOINTS = [
    ("GET", "/items/", None),
    ("GET", "/mcp/sse", None),
    # A JSON-RPC ping without a session id: with the key the MCP app itself answers (400).
    ("POST", "/mcp/messages/", {"jsonrpc": "2.0", "id": 1, "method": "ping"}),
]

TABLE = [
    Probe(method, path, headers, body, note=words, outcome=outcome)
    for method, path, body in ENDPOINTS
    for headers, words, outcome in key_variants(KEY)
]


@pytest.mark.parametrize("probe", TABLE, ids=[probe.title for probe in TABLE])
def test_request_answered_like_the_reference(probe, student, reference, stage):
    """{id}"""
    hint = stage.hint("header_case") if probe.headers and probe.headers[0][0] == "x-api-key" \
        else stage.hint("keep_key_valid")
    expect_like_reference(probe, send(student, probe), send(reference, probe),
                          let_in_hint=hint, keep_out_hint=stage.hint("register"),
                          reference_with_key=send(reference, probe.with_key(KEY)))


def test_mcp_session_with_the_key(student, reference, stage):
    """an MCP client with the key lists the tools and calls get_items"""
    ensure_answering(student)
    url = student.base_url + stage.endpoint
    got = sse_session(url, {"X-API-Key": KEY}, "get_items")
    expected = sse_session(reference.base_url + stage.endpoint, {"X-API-Key": KEY}, "get_items")
    check(got.ok and got.tools == expected.tools and got.structured == expected.structured,
          sent=f"MCP session over SSE to {stage.endpoint} with X-API-Key: initialize, list_tools, call_tool get_items",
          got=got.describe() + (f", result {got.structured}" if got.ok else ""),
          expected=f"{expected.describe()}, result {expected.structured}",
          hint=stage.hint("mcp_session"))


def test_mcp_session_without_the_key_is_refused(student, stage):
    """an MCP client without the key is refused with 401"""
    ensure_answering(student)
    got = sse_session(student.base_url + stage.endpoint, {}, "get_items")
    check("401" in got.error,
          sent=f"MCP session over SSE to {stage.endpoint} with no X-API-Key header",
          got=got.describe() if got.error else f"the session worked: {got.describe()}",
          expected="the connection refused with 401 Unauthorized",
          hint=stage.hint("register"))
