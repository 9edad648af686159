"""Stage 01: ApiKeyMiddleware guards the whole app, the MCP endpoints included, and is hardened.

Every row of the shared attack table goes to every endpoint, and each answer
must match the reference's; random near misses of the key follow. The server
must also fail closed: started without a usable key, it must not serve.
"""

from __future__ import annotations

import pytest

from grader.checks.common import (Endpoint, Hints, credential_params, judge_every_method, judge_random_near_misses,
                                  judge_row, test_imports, test_server_starts)  # noqa: F401  (run first)
from grader.checks.common import test_a_live_session_id_without_the_key_is_refused  # noqa: F401
from grader.checks.common import test_the_key_under_a_name_from_your_code_is_refused  # noqa: F401
from grader.checks.keyless import test_a_server_without_a_key_does_not_serve  # noqa: F401
from grader.checks.common import test_a_refusal_tells_nothing_about_the_key  # noqa: F401
from grader.checks.timing import test_the_comparison_is_constant_time  # noqa: F401
from grader.checks.declared import Declared
from grader.mcp_session import sse_session
from grader.probes import ensure_answering
from grader.verdict import check

PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
ENDPOINTS = (Endpoint("GET", "/items/"), Endpoint("GET", "/mcp/sse"), Endpoint("POST", "/mcp/messages/", PING))


def hints(stage) -> Hints:
    return Hints(let_in=stage.hint("keep_key_valid"), keep_out=stage.hint("register"), compare=stage.hint("compare"),
                 challenge=stage.hint("challenge"), duplicates=stage.hint("duplicates"), leak=stage.hint("leak"))


DECLARED = Declared(
    guarded_file="auth.py", endpoints=ENDPOINTS, protected=ENDPOINTS[1], hints=hints, live_session_hint="register",
    # Whole ideas of the stage, not one row of a table: failing closed and comparing in constant time weigh more.
    weights={"test_a_server_without_a_key_does_not_serve": 5, "test_the_comparison_is_constant_time": 5})


@pytest.mark.parametrize("row", credential_params())
def test_credential(row, session, student, reference, stage):
    """{id}: answered like the reference on /items/, /mcp/sse and /mcp/messages/"""
    judge_row(row, ENDPOINTS, session, student, reference, hints(stage))


@pytest.mark.parametrize("path", ["/items/", "/mcp/sse", "/mcp/messages/", "/mcp/messages/anything"])
def test_every_method_without_a_key(path, session, student, reference, stage):
    """every HTTP method on {id} without a key is refused"""
    judge_every_method(path, session, student, reference, hints(stage), body=PING)


def test_random_near_misses_of_the_key(session, student, reference, stage):
    """random near misses of the key (Hypothesis) are refused like the reference refuses them"""
    judge_random_near_misses(ENDPOINTS[1], session, student, reference, hints(stage))


@pytest.mark.unscored
def test_mcp_session_with_the_key(session, student, reference, stage):
    """an MCP client with the key lists the tools and calls get_items"""
    ensure_answering(student)
    headers = {"X-API-Key": session.key}
    got = sse_session(student.base_url + stage.endpoint, headers, "get_items")
    expected = sse_session(reference.base_url + stage.endpoint, headers, "get_items")
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


from grader.checks.leaks import (test_no_print_or_log_call_is_handed_the_key,  # noqa: E402,F401
                                 test_the_key_never_appears_in_the_server_output)
from grader.checks.common import test_server_is_still_running  # noqa: E402,F401  (runs last)
