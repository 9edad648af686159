"""`make inspect` works for every stage's credential, and never leaves the lesson's server behind.

Stage 05 gets a key issued into a throw-away key store, stage 06 a token minted by the local issuer and sent
as `Authorization: Bearer`. However the Inspector is stopped (SIGTERM, SIGHUP from a closed terminal,
even SIGKILL), the server it started stops too. Needs Node.js and `make setup` (the Inspector's CLI).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
import uuid

import pytest

from course import interop
from grader import processes
from grader.harness import free_port
from grader.stages import ROOT
from tests.test_student_loop import processes_marked

pytestmark = [pytest.mark.skipif(interop.node() is None, reason=interop.not_ready() or "")]


def shell_env(mark: str = "", **extra: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items()
           if name not in ("MAKEFLAGS", "API_KEY", "ACCESS_TOKEN", "KEY_PEPPER", "KEYS_DB")}
    if mark:
        env["WORKSHOP_LOOP_TEST_MARK"] = mark  # inherited by everything started below: how leftovers are found
    return {**env, **extra}


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.3):
            return True
    except OSError:
        return False


@pytest.mark.parametrize("stage, credential", [("05", "X-API-Key: $API_KEY"), ("06", "Authorization: Bearer $ACCESS_TOKEN")])
def test_make_inspect_cli_gets_in_with_the_stages_credential_and_is_refused_without(stage, credential):
    done = subprocess.run(["make", "-s", "inspect", f"STAGE={stage}", "CLI=1", f"PORT={free_port()}"], cwd=ROOT,
                          env=shell_env(), capture_output=True, text=True, timeout=180)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert f'--header "{credential}"' in output and "tools: get_alerts, get_forecast, whoami" in output, output
    assert "REFUSED: " in output.split("Without the", 1)[1], output
    assert not re.search(r"mcpk_[0-9A-Za-z]+_[0-9A-Za-z]{20,}", output), "an issued key was printed whole"


def start_inspector(port: int, mark: str) -> subprocess.Popen:
    """`make inspect STAGE=04 CLI=1` in a process group of its own (as a terminal runs it); returns once its
    server answers."""
    process = subprocess.Popen(["make", "-s", "inspect", "STAGE=04", "CLI=1", f"PORT={port}"], cwd=ROOT,
                               env=shell_env(mark, API_KEY="inspector-test-key-0123456789"),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while not answers(port):
        assert process.poll() is None and time.monotonic() < deadline, "the Inspector's server never answered"
        time.sleep(0.1)
    return process


def marked(mark: str) -> list:
    return processes.carrying("WORKSHOP_LOOP_TEST_MARK", mark)


def inspector_pid(mark: str) -> int:
    return next(process.pid for process in marked(mark) if "course.inspector" in processes.describe(process))


@pytest.mark.parametrize("how", ["SIGTERM to make's group", "SIGHUP to make's group (terminal closed)",
                                 "SIGTERM to the Inspector", "SIGKILL to the Inspector"])
def test_stopping_make_inspect_stops_the_server_it_started(how):
    mark, port = f"inspect-{uuid.uuid4().hex[:8]}", free_port()
    process = start_inspector(port, mark)
    try:
        if "group" in how:
            os.killpg(process.pid, signal.SIGHUP if "SIGHUP" in how else signal.SIGTERM)
        else:
            os.kill(inspector_pid(mark), signal.SIGKILL if "SIGKILL" in how else signal.SIGTERM)
        deadline = time.monotonic() + 15
        while (answers(port) or any("uvicorn" in line for line in processes_marked(mark))) \
                and time.monotonic() < deadline:
            time.sleep(0.2)
        left = [line for line in processes_marked(mark) if "uvicorn" in line]
        assert not left and not answers(port), f"after {how}, the lesson's server still runs: {left}"
    finally:
        processes.kill(marked(mark))
