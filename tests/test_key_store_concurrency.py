"""Stage 05's key store under two uvicorn worker processes and a CLI writing at the same time.

A bounded loopback load test: a fixed number of requests from a few threads,
while `python -m keys` issues and revokes keys in a third process. Every request
must succeed, every use must be counted (no lost updates), and every audit line
must be whole.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from grader import processes
from grader.harness import child_env, free_port
from grader.stages import SOLUTIONS

STAGE = SOLUTIONS / "05-key-management"
REQUESTS = 240  # in all, split between two keys
THREADS = 8
CLI_ROUNDS = 6  # issue, then revoke, this many keys while the load runs
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                         "clientInfo": {"name": "load", "version": "1"}}}
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def keys_cli(env, *args) -> str:
    done = subprocess.run([sys.executable, "-m", "keys", *args], cwd=STAGE, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def issue(env, client: str) -> tuple[str, str]:
    key = keys_cli(env, "issue", "--client", client, "--tools", "*").splitlines()[-1].strip()
    return key.split("_")[1], key


@pytest.fixture
def two_workers(tmp_path):
    env = child_env({"KEYS_DB": str(tmp_path / "keys.db"), "AUDIT_LOG": str(tmp_path / "audit.jsonl"),
                     "KEY_PEPPER": "a-pepper-for-the-load-test-only"})
    port = free_port()
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "secure_weather_server:app", "--host", "127.0.0.1",
                               "--port", str(port), "--workers", "2"], cwd=STAGE, env=env, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        workers = []
        while time.monotonic() < deadline:
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            workers = [child for child in processes.descendants(server.pid) if "spawn_main" in processes.describe(child)]
            try:
                if len(workers) == 2 and httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        assert len(workers) == 2, f"expected two worker processes, found {len(workers)}"
        yield env, f"http://127.0.0.1:{port}", tmp_path
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


def test_two_workers_and_the_cli_share_the_key_store_without_errors_or_lost_updates(two_workers):
    env, url, folder = two_workers
    (a_id, a_key), (b_id, b_key) = issue(env, "load-a"), issue(env, "load-b")
    plan = [a_key if n % 2 == 0 else b_key for n in range(REQUESTS)]
    cli_errors: list[str] = []
    issued: list[str] = []

    def cli_meanwhile() -> None:  # a third process writes while both workers count uses
        try:
            for round_ in range(CLI_ROUNDS):
                key_id, _ = issue(env, f"meanwhile-{round_}")
                issued.append(key_id)
                keys_cli(env, "revoke", key_id)
        except AssertionError as error:
            cli_errors.append(str(error))

    writer = threading.Thread(target=cli_meanwhile)
    with httpx.Client(timeout=15) as client, ThreadPoolExecutor(THREADS) as pool:
        writer.start()
        statuses = list(pool.map(lambda key: client.post(url + "/mcp", json=INITIALIZE,
                                                         headers={**HEADERS, "X-API-Key": key}).status_code, plan))
        writer.join(timeout=120)

    log = (folder / "server.log").read_text(errors="replace")
    counted = {status: statuses.count(status) for status in set(statuses)}
    assert statuses.count(200) == REQUESTS, f"statuses: {counted}\n{log[-3000:]}"
    assert not cli_errors, cli_errors
    assert "Traceback" not in log and "database is locked" not in log, log[-3000:]

    # Uses are counted in memory and written in batches (at most a few seconds late): wait for the
    # batch, then every use must be there, none lost between the two workers and the CLI.
    expected = {a_id: plan.count(a_key), b_id: plan.count(b_key)}
    deadline = time.monotonic() + 20
    while True:
        with sqlite3.connect(env["KEYS_DB"]) as db:
            uses = dict(db.execute("SELECT key_id, uses FROM api_keys WHERE key_id IN (?, ?)", (a_id, b_id)).fetchall())
            revoked = db.execute("SELECT count(*) FROM api_keys WHERE revoked_at IS NOT NULL").fetchone()[0]
            total = db.execute("SELECT count(*) FROM api_keys").fetchone()[0]
        if uses == expected or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert uses == expected, f"a use was lost: {uses} in the database, {expected} made"
    assert (total, revoked, len(issued)) == (2 + CLI_ROUNDS, CLI_ROUNDS, CLI_ROUNDS)

    lines = (folder / "audit.jsonl").read_text().splitlines()
    entries = [json.loads(line) for line in lines]  # a torn or interleaved line would not parse
    initializes = [entry for entry in entries if entry["method"] == "initialize"]
    assert {entry["key_id"] for entry in initializes} == {a_id, b_id}
    assert len(initializes) == REQUESTS
