"""Stage 04: a pure ASGI middleware guards a streamable-HTTP MCP server; a client sends the key.

Every request to /mcp is probed without the key, including the ones that carry
a valid session id (GET stream, follow-up POST, DELETE): a session id is not a
credential.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from grader.checks.common import test_imports, test_server_starts  # noqa: F401  (run first)
from grader.compare import expect_like_reference
from grader.harness import ServerDidNotStart, run_python
from grader.launch import STAGE_KEY
from grader.mcp_session import streamable_session
from grader.probes import Probe, ensure_answering, send, tail
from grader.stages import ROOT
from grader.static import key_comparisons, read
from grader.verdict import CheckFailed, blocked_by, check

STAGE = "04-pure-asgi"
KEY = STAGE_KEY  # a fresh key for every run: nothing to hard-code
SERVER_ENV = {"API_KEY": KEY}
ACCEPT = ("Accept", "application/json, text/event-stream")
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                         "clientInfo": {"name": "grader", "version": "1"}}}
LIST_TOOLS = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
NEW_YORK = {"latitude": 40.7128, "longitude": -74.006}
PUBLISHED_DEFAULTS = ["your-secure-api-key-change-this", "super_secret_value", "changeme", "secret"]
RECORDED_FORECAST = json.loads(
    (ROOT / "workshop/recordings/nws/forecast-OKX-33,35.json").read_text())["properties"]["periods"][0]


def post_initialize(headers, note, outcome, path="/mcp"):
    return Probe("POST", path, (ACCEPT, *headers), INITIALIZE, note=note, outcome=outcome)


PUBLIC = [Probe("GET", "/", note="no key", outcome="public"), Probe("GET", "/health", note="no key", outcome="public")]

KEYS = [
    post_initialize((), "no X-API-Key header", "refused"),
    post_initialize((("X-API-Key", ""),), "X-API-Key: ''", "refused"),
    post_initialize((("X-API-Key", "not-the-key"),), "X-API-Key: not-the-key", "refused"),
    post_initialize((("X-API-Key", KEY),), "X-API-Key: the key", "let through"),
    post_initialize((("x-api-key", KEY),), "x-api-key: the key", "let through"),
    post_initialize((("X-API-Key", "sécrét".encode()),), "a non-ASCII key", "refused"),
    post_initialize((("X-API-Key", KEY), ("X-API-Key", "wrong")), "the header twice: right, wrong", "refused"),
    post_initialize((("X-API-Key", KEY[:-1]),), "the key less its last character", "refused"),
    post_initialize((("Authorization", f"Bearer {KEY}"),), "the key as a bearer token", "refused"),
    Probe("POST", f"/mcp?api_key={KEY}", (ACCEPT,), INITIALIZE, note="the key in the query string", outcome="refused",
          shown_path="/mcp?api_key=<the key>"),
]


def judge(student, reference, row, stage, hint="compare"):
    expect_like_reference(row, send(student, row), send(reference, row),
                          let_in_hint=stage.hint("public" if row.outcome == "public" else "compare"),
                          keep_out_hint=stage.hint(hint), crash_hint=stage.hint("crash"), log=student.log(),
                          reference_with_key=send(reference, row.with_key(KEY)))


@pytest.mark.parametrize("row", PUBLIC, ids=[row.title for row in PUBLIC])
def test_public_route(row, student, reference, stage):
    """{id}"""
    judge(student, reference, row, stage, hint="public")


@pytest.mark.parametrize("row", KEYS, ids=[row.title for row in KEYS])
def test_initialize(row, student, reference, stage):
    """{id}"""
    judge(student, reference, row, stage, hint="wrap" if row.note == "no X-API-Key header" else "compare")


@pytest.fixture(scope="module")
def session_id(student) -> str:
    """A real session, opened with the key: what an attacker could learn from a log or a proxy."""
    opened = send(student, post_initialize((("X-API-Key", KEY),), "the key", "let through"))
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
    headers = (ACCEPT, ("Mcp-Session-Id", session_id))
    row = Probe(method, "/mcp", headers, body, note="Mcp-Session-Id of a live session, no key")
    got = send(student, row)
    check(got.status == 401 and got.challenge is not None, sent=row.describe(), got=got.describe(),
          expected="401 Unauthorized with a WWW-Authenticate header: a session id is not a credential",
          hint=stage.hint("wrap"))


def test_the_401_tells_missing_from_invalid(student, stage):
    """a 401 says whether the key was missing or invalid"""
    missing = send(student, KEYS[0])
    invalid = send(student, KEYS[2])
    try:
        details = json.loads(missing.body), json.loads(invalid.body)
    except ValueError:
        details = None
    check(missing.status == invalid.status == 401 and details is not None and details[0] != details[1],
          sent=f"{KEYS[0].describe()}, then {KEYS[2].describe()}",
          got=f"{missing.describe()}; then {invalid.describe()}",
          expected="two 401s with JSON bodies that differ: one says the key is missing, the other that it is invalid",
          hint=stage.hint("respond_401"))




PROXIED = [KEYS[0], KEYS[3], PUBLIC[1]]


@pytest.mark.parametrize("row", PROXIED, ids=[f"behind a proxy (--root-path /api): {row.title}" for row in PROXIED])
def test_behind_a_reverse_proxy(row, behind_proxy, stage):
    """{id}"""
    mine, theirs = behind_proxy
    expect_like_reference(row, send(mine, row), send(theirs, row), let_in_hint=stage.hint("compare"),
                          keep_out_hint="Compare the route path: scope['path'] without scope['root_path'].",
                          crash_hint=stage.hint("crash"), log=mine.log(),
                          reference_with_key=send(theirs, row.with_key(KEY)))


def test_mcp_session_with_the_key(student, reference, stage):
    """an MCP client with the key lists the tools and gets the recorded forecast"""
    ensure_answering(student)
    got = streamable_session(student.base_url + "/mcp", {"X-API-Key": KEY}, "get_forecast", NEW_YORK)
    expected = streamable_session(reference.base_url + "/mcp", {"X-API-Key": KEY}, "get_forecast", NEW_YORK)
    check(got.ok and sorted(got.tools) == sorted(expected.tools) and RECORDED_FORECAST["detailedForecast"] in got.result_text,
          sent="MCP session over streamable HTTP to /mcp with X-API-Key: initialize, list_tools, "
               f"call_tool get_forecast {NEW_YORK}",
          got=got.describe() + (f", result {got.result_text[:120]!r}" if got.ok
                                else f"\nthe server's log ends:\n{tail(student.log(), 12)}"),
          expected=f"{expected.describe()}, result {expected.result_text[:120]!r}",
          hint=stage.hint("crash") if got.error else stage.hint("compare"))


def test_a_server_without_a_key_does_not_let_anyone_in(launch, stage):
    """started with an empty API_KEY, the server refuses to start (or refuses everyone)"""
    keyless = launch.extras["keyless"]
    try:
        keyless.wait_ready()
    except ServerDidNotStart:
        return  # exiting is the clearest way to fail closed
    guesses = [KEYS[0], post_initialize((("X-API-Key", ""),), "X-API-Key: '' (matches an empty key)", "refused")]
    # Keys that tutorials publish as defaults: a server that falls back to one is open to anyone who read them.
    guesses += [post_initialize((("X-API-Key", known),), f"X-API-Key: {known} (a published default)", "refused")
                for known in PUBLISHED_DEFAULTS]
    for row in guesses:
        got = send(keyless, row)
        check(got.status == 401, sent=f"API_KEY='' {keyless.where}; {row.describe()}", got=got.describe(),
              expected="the server exits at start-up, or refuses this request with 401", hint=stage.hint("fail_closed"))


def test_the_comparison_is_constant_time(launch, stage):
    """the key is compared in constant time (hmac.compare_digest), not with =="""
    if launch.missing:
        blocked_by("there is no submission folder")
    source_file = launch.student_dir / "auth_middleware.py"
    uses_compare_digest, leaks = key_comparisons(read(source_file))
    check(uses_compare_digest and not leaks, sent="read auth_middleware.py",
          got=("no compare_digest call" if not uses_compare_digest else "") + "; ".join(leaks),
          expected="hmac.compare_digest on the key, and no == or != between key values",
          hint=stage.hint("compare"))


@pytest.fixture(scope="module")
def client_runs(launch, stage, reference, imports_ok):
    """The student's client, twice at once against the reference server: the right key, a wrong key."""
    url = reference.base_url + "/mcp"
    with ThreadPoolExecutor(2) as pool:
        right = pool.submit(run_python, launch.student_dir, [stage.client],
                            env={"MCP_SERVER_URL": url, "API_KEY": KEY}, timeout=90, label="client")
        wrong = pool.submit(run_python, launch.student_dir, [stage.client],
                            env={"MCP_SERVER_URL": url, "API_KEY": "not-the-key"}, timeout=90, label="client")
        return url, right.result(), wrong.result()


def test_the_client_answers_with_the_recorded_forecast(client_runs, stage):
    """client.py sends the key and prints the forecast the tool returned"""
    url, right, _ = client_runs
    wanted = RECORDED_FORECAST["detailedForecast"]
    check(right.ok and wanted in right.output,
          sent=f"MCP_SERVER_URL={url} API_KEY=<the key> python {stage.client}",
          got=f"exit status {right.returncode}:\n{tail(right.output)}",
          expected=f"exit status 0 and the recorded forecast ({wanted!r}) in the output",
          hint=stage.hint("client_header"))


def test_the_client_says_plainly_when_the_key_is_refused(client_runs, stage):
    """with a wrong key, client.py says the server answered 401"""
    url, _, wrong = client_runs
    check(not wrong.ok and "401" in wrong.output and "Traceback" not in wrong.output,
          sent=f"MCP_SERVER_URL={url} API_KEY=not-the-key python {stage.client}",
          got=f"exit status {wrong.returncode}:\n{tail(wrong.output)}",
          expected="a non-zero exit and one plain line that names the 401, no traceback",
          hint="Keep the `with plain_errors(...)` block around asyncio.run(main()) in client.py.")


def test_the_key_never_appears_in_the_server_output(launch, student):
    """the key never appears in the server's output"""
    logs = {server.label: server.log() for server in [student, *launch.extras.values()]}
    # The grader's own query-string probe puts the key in the access log on purpose: leave that line out.
    leaked = [f"{label}: {line}" for label, log in logs.items() for line in log.splitlines()
              if KEY in line and f"api_key={KEY}" not in line]
    if leaked:
        raise CheckFailed(sent="every request above", got="the key in the server's output:\n" + tail("\n".join(leaked)),
                          expected="no line of output contains the key",
                          hint="Never print or log the key, not even at start-up or in an error message.")
