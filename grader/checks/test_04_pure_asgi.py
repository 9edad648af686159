"""Stage 04: a pure ASGI middleware guards a streamable-HTTP MCP server; a client sends the key.

Both protocol eras are probed: the handshake era (initialize, then requests
that carry an Mcp-Session-Id; a session id is not a credential) and the
stateless 2026-07-28 era (every request stands alone and must carry the key).
The recorded weather carries a note that is new every run, so only a client
that really called the tool can print it.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from grader.checks.common import (Endpoint, Hints, credential_params, judge, judge_every_method,
                                  judge_random_near_misses, judge_row, test_imports,
                                  test_server_starts)  # noqa: F401  (run first)
from grader.checks.common import test_the_key_under_a_name_from_your_code_is_refused  # noqa: F401
from grader.checks.keyless import test_a_server_without_a_key_does_not_serve  # noqa: F401
from grader.checks.common import test_a_refusal_tells_nothing_about_the_key  # noqa: F401
from grader.checks.timing import test_the_comparison_is_constant_time  # noqa: F401
from grader.checks.declared import Declared
from grader.compare import redact
from grader.connections import HOOK, destinations
from grader.harness import new_log, run_python
from grader.checks.leaks import Strays, expect_client_keeps_the_key, stray_check
from grader.listener import listening_on
from grader.mcp_session import streamable_session
from grader.probes import Probe, ensure_answering, send, tail
from grader.stages import ROOT
from grader.verdict import blocked_by, check

ACCEPT = ("Accept", "application/json, text/event-stream")
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                         "clientInfo": {"name": "grader", "version": "1"}}}
LIST_TOOLS = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
NEW_YORK = {"latitude": 40.7128, "longitude": -74.006}
RECORDED_FORECAST = json.loads(
    (ROOT / "workshop/recordings/nws/forecast-OKX-33,35.json").read_text())["properties"]["periods"][0]

# The stateless era: one POST per request, the version and method in headers, an envelope in params._meta.
MODERN = "2026-07-28"
META = {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}}


def modern(method: str, params: dict | None = None, name: str | None = None) -> Endpoint:
    headers = [ACCEPT, ("MCP-Protocol-Version", MODERN), ("Mcp-Method", method)] + ([("Mcp-Name", name)] if name else [])
    return Endpoint("POST", "/mcp", {"jsonrpc": "2.0", "id": 1, "method": method,
                                     "params": {**(params or {}), "_meta": META}}, tuple(headers))


HANDSHAKE = Endpoint("POST", "/mcp", INITIALIZE, (ACCEPT,))
DISCOVER = modern("server/discover")
ENDPOINTS = (HANDSHAKE, DISCOVER)
MODERN_REQUESTS = {
    "server/discover": DISCOVER,
    "tools/list": modern("tools/list"),
    "tools/call get_forecast": modern("tools/call", {"name": "get_forecast", "arguments": NEW_YORK}, "get_forecast"),
}


def hints(stage, keep_out: str = "wrap") -> Hints:
    return Hints(let_in=stage.hint("compare"), keep_out=stage.hint(keep_out), compare=stage.hint("compare"),
                 crash=stage.hint("crash"), challenge=stage.hint("respond_401"), leak=stage.hint("leak"))


DECLARED = Declared(
    guarded_file="auth_middleware.py", endpoints=ENDPOINTS, protected=HANDSHAKE, hints=hints,
    # Whole ideas of the stage, not one row of a table: failing closed and comparing in constant time weigh more.
    weights={"test_a_server_without_a_key_does_not_serve": 4, "test_the_comparison_is_constant_time": 4})


def note(session) -> str:
    return session.forecast_note


PUBLIC = [Probe("GET", "/", note="no key", outcome="public"), Probe("GET", "/health", note="no key", outcome="public")]


@pytest.mark.unscored
@pytest.mark.parametrize("row", PUBLIC, ids=[row.title for row in PUBLIC])
def test_public_route(row, session, student, reference, stage):
    """{id}"""
    judge(row, student, reference, session.key, hints(stage), let_in_hint=stage.hint("public"))


@pytest.mark.parametrize("row", credential_params())
def test_credential(row, session, student, reference, stage):
    """{id}: answered like the reference (initialize, and a 2026-07-28 request)"""
    judge_row(row, ENDPOINTS, session, student, reference, hints(stage))


# Below /mcp the router answers (404) before anything runs: the starter passes those, so they are worth nothing.
@pytest.mark.parametrize("path", ["/mcp", pytest.param("/mcp/", marks=pytest.mark.unscored),
                                  pytest.param("/mcp/anything", marks=pytest.mark.unscored)])
def test_every_method_without_a_key(path, session, student, reference, stage):
    """every HTTP method on {id} without a key is refused"""
    judge_every_method(path, session, student, reference, hints(stage), body=INITIALIZE, headers=(ACCEPT,))


PATH_TRICKS = ["/%6Dcp", "/m%63p", "/%6D%63%70"]


@pytest.mark.parametrize("path", PATH_TRICKS)
def test_an_encoded_path_without_the_key_is_refused(path, session, student, reference, stage):
    """POST {id} (a percent-encoded /mcp, which routes to the MCP endpoint) without the key is refused"""
    row = Probe("POST", path, (ACCEPT,), INITIALIZE, note="no X-API-Key header", outcome="refused")
    judge(row, student, reference, session.key, hints(stage))


def test_random_near_misses_of_the_key(session, student, reference, stage):
    """random near misses of the key (Hypothesis) are refused like the reference refuses them"""
    judge_random_near_misses(HANDSHAKE, session, student, reference, hints(stage))


@pytest.mark.parametrize("name", list(MODERN_REQUESTS))
def test_a_2026_request_without_the_key_is_refused(name, session, student, reference, stage):
    """2026-07-28 (stateless) {id} without the key is refused"""
    endpoint = MODERN_REQUESTS[name]
    row = Probe(endpoint.method, endpoint.path, endpoint.headers, endpoint.body, note="2026-07-28, no key")
    judge(row, student, reference, session.key, hints(stage))


@pytest.mark.unscored
@pytest.mark.parametrize("name", list(MODERN_REQUESTS))
def test_a_2026_request_with_the_key_is_answered(name, session, student, reference, stage):
    """2026-07-28 (stateless) {id} with the key is answered like the reference"""
    endpoint = MODERN_REQUESTS[name]
    row = Probe(endpoint.method, endpoint.path, (*endpoint.headers, ("X-API-Key", session.key)), endpoint.body,
                note="2026-07-28, X-API-Key: the key", outcome="let through")
    judge(row, student, reference, session.key, hints(stage))


@pytest.mark.unscored
def test_a_foreign_origin_is_refused_even_with_the_key(session, student, stage):
    """a browser page from another site (foreign Origin) is refused even with the key (403)"""
    row = Probe("POST", "/mcp", (ACCEPT, ("Origin", "http://attacker.example"), ("X-API-Key", session.key)),
                INITIALIZE, note="Origin: http://attacker.example, X-API-Key: the key")
    got = send(student, row)
    check(got.status == 403, sent=row.describe(), got=got.describe(),
          expected="403 Forbidden: the SDK's DNS-rebinding protection refuses pages from other sites",
          hint=stage.hint("origin"))


@pytest.fixture(scope="module")
def session_id(session, student) -> str:
    """A real session, opened with the key: what an attacker could learn from a log or a proxy."""
    opened = send(student, Probe("POST", "/mcp", (ACCEPT, ("X-API-Key", session.key)), INITIALIZE))
    found = opened.headers.get("mcp-session-id")
    if opened.status != 200 or not found:
        blocked_by(f"a session could not be opened with the key (got {opened.describe()})")
    return found


SESSION_REQUESTS = [
    ("POST", LIST_TOOLS, "a follow-up POST (tools/list)"),
    ("GET", None, "the GET event stream"),  # an open stream may stay quiet: its first event is not awaited long
    ("DELETE", None, "DELETE (ending the session)"),
]


@pytest.mark.parametrize("method,body,words", SESSION_REQUESTS, ids=[words for _, _, words in SESSION_REQUESTS])
def test_a_valid_session_id_without_the_key_is_refused(method, body, words, student, session_id, stage):
    """{id} with a valid session id but no key is refused"""
    row = Probe(method, "/mcp", (ACCEPT, ("Mcp-Session-Id", session_id)), body,
                note="Mcp-Session-Id of a live session, no key")
    got = send(student, row)
    check(got.status == 401 and got.challenge is not None, sent=row.describe(), got=got.describe(),
          expected="401 Unauthorized with a WWW-Authenticate header: a session id is not a credential",
          hint=stage.hint("respond_401" if got.status == 401 else "wrap"))


def test_the_401_tells_missing_from_invalid(session, student, stage):
    """a 401 says whether the key was missing or invalid"""
    missing = Probe("POST", "/mcp", (ACCEPT,), INITIALIZE, note="no X-API-Key header")
    invalid = Probe("POST", "/mcp", (ACCEPT, ("X-API-Key", "not-the-key")), INITIALIZE, note="X-API-Key: not-the-key")
    first, second = send(student, missing), send(student, invalid)
    try:
        details = json.loads(first.body), json.loads(second.body)
    except ValueError:
        details = None
    proper = first.status == second.status == 401 and details is not None
    check(proper and details[0] != details[1],
          sent=f"{missing.describe()}, then {invalid.describe()}", got=f"{first.describe()}; then {second.describe()}",
          expected="two 401s with JSON bodies that differ: one says the key is missing, the other that it is invalid",
          # Two proper 401s that say the same thing: the refusal is fine, its words are not.
          hint=stage.hint("missing_vs_invalid" if proper else "respond_401"))


# Builds the student's guard with an empty key, outside any server, and asks it about an empty header.
EMPTY_KEY_GUARD = """
import asyncio, json
from auth_middleware import ApiKeyAuthMiddleware

async def app(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"reached the app"})

try:
    guard = ApiKeyAuthMiddleware(app, api_key="")
except Exception as error:
    print(json.dumps({"built": False, "error": type(error).__name__}))
    raise SystemExit(0)
answers = {}
for label, headers in [("an empty X-API-Key", [(b"x-api-key", b"")]), ("no X-API-Key", [])]:
    sent = []
    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}
    async def send(message):
        sent.append(message)
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/mcp", "raw_path": b"/mcp", "root_path": "", "query_string": b"", "headers": headers,
             "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 40000)}
    asyncio.run(guard(scope, receive, send))
    answers[label] = next((m["status"] for m in sent if m["type"] == "http.response.start"), None)
print(json.dumps({"built": True, "answers": answers}))
"""


def test_the_guard_refuses_to_be_built_with_an_empty_key(session, launch, stage, imports_ok):
    """ApiKeyAuthMiddleware(app, api_key="") refuses to be built (or lets nobody in)"""
    ran = run_python(launch.student_dir, ["-c", EMPTY_KEY_GUARD], timeout=60, label="empty-key-guard")
    lines = [line for line in ran.output.splitlines() if line.startswith("{")]
    found = json.loads(lines[-1]) if ran.ok and lines else None
    sent = 'ApiKeyAuthMiddleware(app, api_key=""), then POST /mcp with an empty X-API-Key, and with none'
    if found is None:
        got = f"exit status {ran.returncode}:\n{tail(redact(ran.output, session.key))}"
    elif found["built"]:
        got = "it was built; it answered " + ", ".join(f"{label}: {status}" for label, status in found["answers"].items())
    else:
        return
    check(found is not None and all(status == 401 for status in found["answers"].values()), sent=sent, got=got,
          expected="an error at construction (ValueError): a guard without a key compares against b'' and lets an "
                   "empty header in; the next caller who wires it with a missing setting gets a guard that guards "
                   "nothing", hint=stage.hint("empty_key_guard"))


PROXIED = ["POST /mcp without a key is refused", "POST /mcp with the key gets in", "GET /health is public"]


@pytest.mark.parametrize("index", [pytest.param(index, id=name, marks=[pytest.mark.unscored] if index else [])
                                   for index, name in enumerate(PROXIED)])
def test_behind_a_reverse_proxy(index, session, behind_proxy, stage):
    """behind a proxy (uvicorn --root-path, new every run): {id}"""
    mine, theirs = behind_proxy
    rows = [Probe("POST", "/mcp", (ACCEPT,), INITIALIZE, note="no X-API-Key header"),
            Probe("POST", "/mcp", (ACCEPT, ("X-API-Key", session.key)), INITIALIZE, note="X-API-Key: the key",
                  outcome="let through"),
            PUBLIC[1]]
    judge(rows[index], mine, theirs, session.key, hints(stage), keep_out_hint="Compare the route path: "
          "scope['path'] without scope['root_path'].")


@pytest.mark.unscored
def test_mcp_session_with_the_key(session, student, reference, stage):
    """an MCP client with the key lists the tools and gets this run's recorded forecast"""
    ensure_answering(student)
    headers = {"X-API-Key": session.key}
    got = streamable_session(student.base_url + "/mcp", headers, "get_forecast", NEW_YORK)
    expected = streamable_session(reference.base_url + "/mcp", headers, "get_forecast", NEW_YORK)
    check(got.ok and sorted(got.tools) == sorted(expected.tools) and note(session) in got.result_text,
          sent="MCP session over streamable HTTP to /mcp with X-API-Key: initialize, list_tools, "
               f"call_tool get_forecast {NEW_YORK}",
          got=got.describe() + (f", result {got.result_text[:120]!r}" if got.ok
                                else f"\nthe server's log ends:\n{tail(student.log(), 12)}"),
          expected=f"{expected.describe()}, result {expected.result_text[:120]!r}",
          hint=stage.hint("crash") if got.error else stage.hint("compare"))


@pytest.fixture(scope="module")
def client_runs(session, launch, stage, reference, imports_ok):
    """The student's client, twice at once against the reference server: the right key, a wrong key.

    Meanwhile a listener on the lesson's default port records whatever reaches it: a
    client told to use MCP_SERVER_URL must send nothing there.
    """
    url = reference.base_url + "/mcp"
    connections = new_log("connections")
    with listening_on(stage.port) as listener, ThreadPoolExecutor(2) as pool:
        right = pool.submit(run_python, launch.student_dir, ["-c", HOOK, stage.client], timeout=90, label="client",
                            env={"MCP_SERVER_URL": url, "API_KEY": session.key, "GRADER_CONNECT_LOG": str(connections)})
        wrong = pool.submit(run_python, launch.student_dir, [stage.client],
                            env={"MCP_SERVER_URL": url, "API_KEY": "not-the-key"}, timeout=90, label="client")
        return url, right.result(), wrong.result(), Strays(listener, destinations(connections),
                                                           f"127.0.0.1:{reference.port}")


def test_the_client_answers_with_the_recorded_forecast(session, client_runs, stage):
    """client.py sends the key and prints the forecast the tool returned this run"""
    url, right, _, _ = client_runs
    wanted = note(session)
    check(right.ok and wanted in right.output,
          sent=f"MCP_SERVER_URL={url} API_KEY=<the key> python {stage.client}",
          got=f"exit status {right.returncode}:\n{tail(redact(right.output, session.key))}",
          expected=f"exit status 0 and this run's forecast (it ends {wanted!r}) in the output",
          hint=stage.hint("client_header"))


@pytest.mark.unscored
def test_the_client_says_plainly_when_the_key_is_refused(client_runs, stage):
    """with a wrong key, client.py says the server answered 401"""
    url, _, wrong, _ = client_runs
    check(not wrong.ok and "401" in wrong.output and "Traceback" not in wrong.output,
          sent=f"MCP_SERVER_URL={url} API_KEY=not-the-key python {stage.client}",
          got=f"exit status {wrong.returncode}:\n{tail(wrong.output)}",
          expected="a non-zero exit and one plain line that names the 401, no traceback",
          hint=stage.hint("plain_error"))


@pytest.mark.unscored
@pytest.mark.gate
def test_the_client_keeps_the_key_to_itself(session, client_runs, reference, stage):
    """the client prints no part of the key, and never puts it in a URL"""
    _, right, _, _ = client_runs
    expect_client_keeps_the_key(session, right.output, reference.log(), f"python {stage.client}",
                                output_hint=stage.hint("leak"), url_hint=stage.hint("client_destination"))


@pytest.mark.unscored
@pytest.mark.gate
def test_the_client_sends_the_key_nowhere_else(session, client_runs, stage):
    """the client sends the key to MCP_SERVER_URL only (nothing reaches the lesson's default port)"""
    url, _, _, listener = client_runs
    stray_check(session, listener, stage, f"python {stage.client} with MCP_SERVER_URL={url}", "client_destination")


from grader.checks.leaks import (test_no_print_or_log_call_is_handed_the_key,  # noqa: E402,F401
                                 test_the_key_never_appears_in_the_server_output)
from grader.checks.common import test_server_is_still_running  # noqa: E402,F401  (runs last)
