"""Stage 03: only /mcp and below needs the key; the rest of the app is public.

Beyond the shared attack table, this stage probes what an attacker tries on a
path rule: every method, encoded and dotted paths, paths below the mounted
apps (with a live session id), and the server behind a reverse proxy whose
root path is new every run.
"""

from __future__ import annotations

import pytest

from grader.checks.common import (Endpoint, Hints, credential_params, judge, judge_every_method, judge_row,
                                  test_imports, test_server_starts)  # noqa: F401  (run first)
from grader.checks.common import test_a_live_session_id_without_the_key_is_refused  # noqa: F401
from grader.checks.common import test_the_key_under_a_name_from_your_code_is_refused  # noqa: F401
from grader.checks.keyless import test_a_server_without_a_key_does_not_serve  # noqa: F401
from grader.checks.common import test_a_refusal_tells_nothing_about_the_key  # noqa: F401
from grader.checks.timing import test_the_comparison_is_constant_time  # noqa: F401
from grader.checks.declared import Declared
from grader.mcp_session import sse_session
from grader.probes import Probe, ensure_answering
from grader.verdict import CheckFailed, check

PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                         "clientInfo": {"name": "attacker", "version": "1"}}}
ENDPOINTS = (Endpoint("GET", "/mcp/sse"), Endpoint("POST", "/mcp/messages/", PING))


def hints(stage, keep_out: str = "prefix") -> Hints:
    return Hints(let_in=stage.hint("prefix"), keep_out=stage.hint(keep_out), compare=stage.hint("compare"),
                 duplicates=stage.hint("duplicates"), leak=stage.hint("leak"))


DECLARED = Declared(
    guarded_file="auth.py", endpoints=ENDPOINTS, protected=ENDPOINTS[0], hints=hints, live_session_hint="messages",
    # The starter arrives with stage 01's hardened guard: failing closed and comparing in constant time are not
    # this stage's work (they still run: breaking them costs the stage its points).
    unscored=frozenset({"test_a_server_without_a_key_does_not_serve", "test_the_comparison_is_constant_time"}))


def probe(method, path, headers=(), body=None, note="no X-API-Key header", outcome="refused", raw=False):
    return Probe(method, path, tuple(headers), body, note=note, outcome=outcome, raw=raw)


PUBLIC = [probe("GET", path, outcome="public") for path in ["/items/", "/docs", "/openapi.json"]]

def kept(value, title: str, router_answers: bool = False):
    """A parameter; where the router itself answers without reaching the MCP app (a redirect, a 404),
    the untouched starter passes too, so the row is worth nothing (it still runs)."""
    return pytest.param(value, id=title, marks=[pytest.mark.unscored] if router_answers else [])


PATH_TRICKS = [
    kept(probe("GET", "/%6Dcp/sse", note="a percent-encoded letter, no key", outcome="kept out"), "a percent-encoded letter"),
    kept(probe("GET", "/mcp%2Fsse", note="an encoded slash, no key", outcome="kept out"), "an encoded slash", True),
    kept(probe("GET", "/mcp//sse", note="a double slash, no key", outcome="kept out"), "a double slash", True),
    kept(probe("GET", "/./mcp/sse", note="a dot segment, no key", raw=True, outcome="kept out"), "a dot segment", True),
    kept(probe("GET", "/items/../mcp/sse", note="dot-dot from a public path, no key", raw=True, outcome="kept out"),
         "dot-dot from a public path", True),
    kept(probe("GET", "/MCP/sse", note="upper case, no key", outcome="kept out"), "upper case", True),
    kept(probe("GET", "/mcpx", note="a longer path that is not the mount, no key", outcome="kept out"),
         "a longer path that is not the mount", True),
]

MOUNT_PATHS = [kept("/mcp", "/mcp", True), kept("/mcp/", "/mcp/", True), kept("/mcp/sse", "/mcp/sse"),
               kept("/mcp/messages/", "/mcp/messages/"), kept("/mcp/messages/anything", "/mcp/messages/anything"),
               kept("/mcp/sse/extra", "/mcp/sse/extra", True)]


@pytest.mark.unscored
@pytest.mark.parametrize("row", PUBLIC, ids=[row.title for row in PUBLIC])
def test_public_route(row, session, student, reference, stage):
    """{id}"""
    judge(row, student, reference, session.key, hints(stage), let_in_hint=stage.hint("public"))


@pytest.mark.parametrize("path", MOUNT_PATHS)
def test_every_method_without_a_key(path, session, student, reference, stage):
    """every HTTP method on {id} without a key is refused"""
    judge_every_method(path, session, student, reference, hints(stage, "messages" if "messages" in path else "prefix"),
                       body=PING)


@pytest.mark.parametrize("row", credential_params())
def test_credential(row, session, student, reference, stage):
    """{id}: answered like the reference on /mcp/sse and /mcp/messages/"""
    judge_row(row, ENDPOINTS, session, student, reference, hints(stage))


@pytest.mark.parametrize("row", PATH_TRICKS)
def test_path_trick(row, session, student, reference, stage):
    """a path trick without a key ({id}) is kept out"""
    judge(row, student, reference, session.key, hints(stage))


def proxied_rows(session):
    return [probe("GET", "/mcp/sse"), probe("POST", "/mcp/messages/", body=PING), probe("GET", "/items/", outcome="public"),
            probe("GET", "/mcp/sse", [("X-API-Key", session.key)], note="X-API-Key: the key", outcome="let through")]


PROXIED_NAMES = ["GET /mcp/sse without a key is refused", "POST /mcp/messages/ without a key is refused",
                 "GET /items/ is public", "GET /mcp/sse with the key gets in"]


@pytest.mark.parametrize("index", [pytest.param(index, id=name, marks=[pytest.mark.unscored] if index >= 2 else [])
                                   for index, name in enumerate(PROXIED_NAMES)])
def test_behind_a_reverse_proxy(index, session, behind_proxy, stage):
    """behind a proxy (uvicorn --root-path, new every run): {id}"""
    mine, theirs = behind_proxy
    row = proxied_rows(session)[index]
    judge(row, mine, theirs, session.key, hints(stage, "root_path"), let_in_hint=stage.hint("public"))


@pytest.mark.unscored
def test_mcp_session_with_the_key(session, student, reference, stage):
    """an MCP client with the key lists the tools and calls get_items"""
    ensure_answering(student)
    headers = {"X-API-Key": session.key}
    got = sse_session(student.base_url + stage.endpoint, headers, "get_items")
    expected = sse_session(reference.base_url + stage.endpoint, headers, "get_items")
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


from grader.checks.leaks import (test_no_print_or_log_call_is_handed_the_key,  # noqa: E402,F401
                                 test_the_key_never_appears_in_the_server_output)
from grader.checks.common import test_server_is_still_running  # noqa: E402,F401  (runs last)
