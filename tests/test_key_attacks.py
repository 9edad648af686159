"""Attacks on stage 05's reference server, each sent to it running under uvicorn on loopback.

Every test here failed on the reference before its fix (issue 20): a session usable
with another key, a client address chosen by X-Forwarded-For, an audit log that
grows a line per throttled request, a locked database that stalls the event loop,
a rotation that drops the expiry or leaves two live successors, a GET stream that
stays open after its key was revoked or its rotation's grace ended.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest

from grader.checks.test_04_pure_asgi import MODERN_REQUESTS
from grader.checks.test_05_key_management import ACCEPT, INITIALIZE, CliFailed, cli, issue, issued_by
from grader.harness import Server, uvicorn_command
from grader.stage_env import RunValues, prepare_key_store
from grader.stages import SOLUTIONS, stage_by_id

STAGE = stage_by_id("05-key-management")
HEADERS = {"Accept": ACCEPT[1], "Content-Type": "application/json"}
FAST = 1.0  # seconds: what "answers at once" means here, on a loaded machine
STREAM_BOUND = 5.0  # seconds: how long a GET stream may outlive its key


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stage05")
    env = prepare_key_store(SOLUTIONS / STAGE.id, folder, RunValues("a-pepper-for-the-attack-tests"))
    running = Server(SOLUTIONS / STAGE.id, STAGE.app, env=env, label="reference-05").wait_ready()
    yield running
    running.stop()


def post(server: Server, key: str, body: dict, *, source: str = "127.0.0.1", headers: dict | None = None,
         timeout: float = 15.0) -> httpx.Response:
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport, timeout=timeout) as client:
        return client.post(server.base_url + "/mcp", json=body,
                           headers={**HEADERS, "X-API-Key": key, **(headers or {})})


def audit_lines(server: Server) -> list[dict]:
    path = Path(server.env["AUDIT_LOG"])
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_session_opened_with_one_key_is_not_found_with_another_key(server):
    first, second = issue(server, "owner", "*"), issue(server, "intruder", "*")
    opened = post(server, first.key, INITIALIZE)
    session = opened.headers.get("mcp-session-id")
    assert opened.status_code == 200 and session, opened.text
    listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
    other = post(server, second.key, listing, headers={"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-06-18"})
    assert other.status_code == 404, f"another key used the session: {other.status_code} {other.text[:300]}"
    with httpx.Client(timeout=10) as client:
        deleted = client.delete(server.base_url + "/mcp", headers={**HEADERS, "X-API-Key": second.key,
                                                                   "Mcp-Session-Id": session})
    assert deleted.status_code == 404, f"another key ended the session: {deleted.status_code} {deleted.text[:300]}"
    own = post(server, first.key, listing, headers={"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-06-18"})
    assert own.status_code == 200, f"the owner lost its session: {own.status_code} {own.text[:300]}"


def test_x_forwarded_for_from_loopback_does_not_choose_the_client_address(server):
    """One real source address, a new X-Forwarded-For each time: the limiter must see one address."""
    statuses = []
    for attempt in range(40):
        answer = post(server, f"wrong-key-{attempt}", INITIALIZE, source="127.0.0.1",
                      headers={"X-Forwarded-For": f"198.51.100.{attempt + 1}"})
        statuses.append(answer.status_code)
        if answer.status_code == 429:
            break
    assert statuses[-1] == 429, f"never throttled: each forged X-Forwarded-For counted as a new client: {statuses}"
    clients = {entry["client"] for entry in audit_lines(server) if entry["method"] == "POST /mcp"}
    assert not any(client.startswith("198.51.100.") for client in clients), f"forged addresses logged: {clients}"


def test_the_workshop_serves_without_trusting_forwarded_headers_unless_a_proxy_is_named():
    plain = uvicorn_command("app:app", 5000)
    proxied = uvicorn_command("app:app", 5000, trusted_proxies="10.0.0.5")
    assert "--no-proxy-headers" in plain and not any(arg.startswith("--forwarded-allow-ips") for arg in plain)
    assert "--forwarded-allow-ips=10.0.0.5" in proxied and "--no-proxy-headers" not in proxied


def test_300_bad_requests_grow_the_audit_log_by_a_bounded_number_of_lines(server):
    before = len(audit_lines(server))
    with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.7.2"), timeout=10) as client:
        statuses = [client.post(server.base_url + "/mcp", json=INITIALIZE,
                                headers={**HEADERS, "X-API-Key": f"scan-{n}"}).status_code for n in range(300)]
    grown = len(audit_lines(server)) - before
    assert statuses.count(429) > 250, statuses
    # 20 refusals a minute from one address (the limit), then one line for the throttled burst.
    assert grown <= 25, f"300 bad requests wrote {grown} audit lines"


def test_a_locked_key_database_stalls_neither_health_nor_a_keyed_call(server):
    key = issue(server, "while-locked", "*")
    call = MODERN_REQUESTS["tools/call get_forecast"]
    assert post(server, key.key, call.body, headers=dict(call.headers)).status_code == 200
    lock = sqlite3.connect(server.env["KEYS_DB"], isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")  # another process's write lock, held: a backup, a slow CLI
    timings: dict[str, tuple[int, float]] = {}

    def timed(name: str, send) -> None:
        started = time.monotonic()
        timings[name] = (send().status_code, time.monotonic() - started)

    try:
        keyed = threading.Thread(target=timed, args=("tools/call", lambda: post(server, key.key, call.body,
                                                                                headers=dict(call.headers))))
        keyed.start()
        time.sleep(0.2)
        timed("GET /health", lambda: httpx.get(server.base_url + "/health", timeout=15))
        keyed.join(timeout=20)
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert all(status == 200 and seconds < FAST for status, seconds in timings.values()), timings
    assert len(timings) == 2, timings


def test_uses_counted_while_the_database_was_locked_reach_it_afterwards(server):
    key = issue(server, "counted", "*")
    lock = sqlite3.connect(server.env["KEYS_DB"], isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")
    try:
        for _ in range(3):
            assert post(server, key.key, INITIALIZE).status_code == 200
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    deadline, uses = time.monotonic() + 15, 0
    while time.monotonic() < deadline and uses < 3:
        time.sleep(0.5)
        with sqlite3.connect(server.env["KEYS_DB"]) as db:
            uses = db.execute("SELECT uses FROM api_keys WHERE key_id = ?", (key.key_id,)).fetchone()[0]
    assert uses == 3, f"{uses} uses recorded of 3"


def test_a_successor_keeps_the_old_keys_expiry_and_is_refused_once_it_passes(server):
    old = issue(server, "short-lived", "get_forecast", "--expires-in", "3s")
    successor = issued_by(cli(server, "rotate", old.key_id, "--grace", "1d"))
    with sqlite3.connect(server.env["KEYS_DB"]) as db:
        rows = dict(db.execute("SELECT key_id, expires_at FROM api_keys WHERE key_id IN (?, ?)",
                               (old.key_id, successor.key_id)).fetchall())
        tools = db.execute("SELECT tools FROM api_keys WHERE key_id = ?", (successor.key_id,)).fetchone()[0]
    assert rows[successor.key_id] == rows[old.key_id], f"the successor's expiry: {rows}"
    assert json.loads(tools) == ["get_forecast"]
    time.sleep(max(0.0, rows[old.key_id] - time.time()) + 0.2)
    answer = post(server, successor.key, INITIALIZE, source="127.0.7.3")
    assert answer.status_code == 401 and "expired" in answer.text, f"{answer.status_code} {answer.text}"


def test_rotating_a_key_twice_is_refused_and_leaves_one_successor(server):
    old = issue(server, "rotated-twice", "*")
    first = issued_by(cli(server, "rotate", old.key_id, "--grace", "1h"))
    with pytest.raises(CliFailed) as refused:
        cli(server, "rotate", old.key_id, "--grace", "1h")
    assert "already rotated" in refused.value.result.output, refused.value.result.output
    with sqlite3.connect(server.env["KEYS_DB"]) as db:
        clients = db.execute("SELECT key_id FROM api_keys WHERE client = 'rotated-twice' AND revoked_at IS NULL"
                             " AND key_id != ?", (old.key_id,)).fetchall()
    assert clients == [(first.key_id,)]


def stream_client(source: str) -> httpx.Client:
    """A client from its own loopback address (the other tests' refusals do not throttle its reconnection),
    that gives up on a stream silent for longer than the bound allows."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=source),
                        timeout=httpx.Timeout(10, read=STREAM_BOUND + 3))


def open_stream(client: httpx.Client, server: Server, key: str):
    """A session opened with KEY, and its GET stream (a context manager), as an MCP client opens them."""
    headers = {**HEADERS, "X-API-Key": key}
    opened = client.post(server.base_url + "/mcp", json=INITIALIZE, headers=headers)
    assert opened.status_code == 200, opened.text
    headers.update({"Mcp-Session-Id": opened.headers["mcp-session-id"], "MCP-Protocol-Version": "2025-06-18"})
    client.post(server.base_url + "/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"},
                headers=headers)
    return client.stream("GET", server.base_url + "/mcp", headers=headers), headers


def seconds_until_it_ends(stream: httpx.Response, since: float) -> float:
    """Read STREAM until the server ends it: the seconds from SINCE (a Unix time) to its end.

    A stream still open past the client's read timeout fails the test.
    """
    try:
        for _ in stream.iter_raw():  # the server pings every 15 s: more than the read timeout
            pass
    except httpx.ReadTimeout:
        pytest.fail(f"the GET stream is still open {time.time() - since:.1f} s after its key ended")
    return time.time() - since


def test_a_get_stream_ends_within_5_s_of_its_key_being_revoked(server):
    key = issue(server, "streaming", "*")
    with stream_client("127.0.7.4") as client:
        opening, headers = open_stream(client, server, key.key)
        with opening as stream:
            assert stream.status_code == 200, stream.read()
            cli(server, "revoke", key.key_id)
            ended = seconds_until_it_ends(stream, time.time())
        assert ended <= STREAM_BOUND, f"the stream lasted {ended:.1f} s after the revocation"
        again = client.get(server.base_url + "/mcp", headers=headers)  # the client reconnects
    assert again.status_code == 401 and "revoked" in again.text, f"{again.status_code} {again.text}"


def test_a_get_stream_lasts_through_its_rotation_grace_and_ends_within_5_s_after_it(server):
    key = issue(server, "rotated-while-streaming", "*")
    grace = 4.0
    with stream_client("127.0.7.5") as client:
        opening, headers = open_stream(client, server, key.key)
        with opening as stream:
            assert stream.status_code == 200, stream.read()
            cli(server, "rotate", key.key_id, "--grace", f"{grace:g}s")
            with sqlite3.connect(server.env["KEYS_DB"]) as db:
                (grace_ends,) = db.execute("SELECT expires_at FROM api_keys WHERE key_id = ?",
                                           (key.key_id,)).fetchone()
            ended = seconds_until_it_ends(stream, grace_ends)
        assert ended >= 0, f"the stream ended {-ended:.1f} s before the grace did: a valid key lost its stream"
        assert ended <= STREAM_BOUND, f"the stream lasted {ended:.1f} s after the grace ended"
        again = client.get(server.base_url + "/mcp", headers=headers)
    assert again.status_code == 401 and "expired" in again.text, f"{again.status_code} {again.text}"
