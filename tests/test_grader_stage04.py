"""The grader judges stage 04 submissions right: each known mistake fails, and for its reason."""

import shutil
import socket
import time

import pytest

from grader.stages import SOLUTIONS
from tests.conftest import grade, make_submission

STAGE = "04-pure-asgi"
KEYLESS = "started with API_KEY unset, empty or only spaces"


def test_a_middleware_that_drops_the_lifespan_breaks_the_mcp_session(grade_case):
    run = grade_case(STAGE, "lifespan-dropped")
    session = run.check("an MCP client with the key")
    assert session["status"] == "failed", run.stdout
    assert "Task group is not initialized" in session["output"], session["output"]  # the server's log, shown


def test_comparing_decoded_text_crashes_on_a_non_ascii_key(grade_case):
    run = grade_case(STAGE, "str-compare")
    check = run.check("a non-ASCII key")
    assert check["status"] == "failed" and "500" in check["output"], check["output"]


def test_sloppy_code_fails_the_timing_message_leak_and_client_checks(grade_case):
    run = grade_case(STAGE, "sloppy")
    timing = run.check("the key is compared in constant time")
    assert timing["status"] == "failed" and "presented[0] != self._key" in timing["output"], timing["output"]
    same_words = run.check("a 401 says whether the key was missing or invalid")
    assert same_words["status"] == "failed", same_words["output"]
    # Both 401s are proper ones: the hint is about their bodies, not about the refusal.
    assert "same body" in same_words["output"] and "not a proper 401" not in same_words["output"], same_words["output"]
    leak = run.check("the key never appears in the server's output")
    assert leak["status"] == "failed" and "Starting with API key" in leak["output"], leak["output"]
    client = run.check("client.py sends the key")
    assert client["status"] == "failed" and "401" in client["output"], client["output"]
    assert run.report["score"] == 0  # the key in the log costs the stage its points
    # ...while the behaviour those mistakes do not touch still passes.
    assert run.check("no X-API-Key header")["status"] == "passed"


@pytest.mark.parametrize("case,row", [
    ("accepts-a-suffix", "the key with a character appended"),
    ("accepts-other-case", "the key in other letter case"),
    ("last-of-two-headers", "the header twice: wrong, right"),
])
def test_a_comparison_that_lets_in_a_near_miss_fails_its_row_and_the_random_near_misses(grade_case, case, row):
    run = grade_case(STAGE, case)
    assert run.check(row)["status"] == "failed", run.stdout
    assert "200 OK" in run.check(row)["output"]
    if case != "last-of-two-headers":  # random edits of one key never make two headers
        assert run.check("random near misses of the key")["status"] == "failed", run.stdout
    assert run.report["score"] < run.report["max_score"]


def test_a_401_that_echoes_the_key_scores_nothing_and_never_shows_the_key(grade_case):
    run = grade_case(STAGE, "echoes-the-key")
    echoed = run.check("the key less its last character")
    assert echoed["status"] == "failed" and "part of the key" in echoed["output"], echoed["output"]
    assert "<part of the key>" in echoed["output"]


def test_a_server_that_exits_a_second_after_it_starts_scores_nothing(grade_case):
    run = grade_case(STAGE, "exits-after-a-second")
    assert run.check("the server is still running")["status"] == "failed", run.stdout
    assert run.returncode == 1 and run.report["score"] == 0


def test_a_client_that_sends_the_key_elsewhere_is_caught(grade_case):
    run = grade_case(STAGE, "sends-the-key-elsewhere")
    check = run.check("the client sends the key to MCP_SERVER_URL only")
    assert check["status"] == "failed" and "127.0.0.1:5000" in check["output"], check["output"]
    assert run.report["score"] == 0


@pytest.mark.parametrize("case,evidence", [("default-key", "it answered on its port"),
                                           ("empty-key-accepted", "it answered on its port")])
def test_a_server_that_does_not_fail_closed_is_caught(grade_case, case, evidence):
    run = grade_case(STAGE, case)
    keyless = run.check(KEYLESS)
    assert keyless["status"] == "failed" and evidence in keyless["output"], keyless["output"]


@pytest.mark.parametrize("case", ["alt-starlette-headers", "alt-comprehension-and-length"])
def test_a_correct_alternative_passes(grade_case, case):
    run = grade_case(STAGE, case)
    assert run.returncode == 0, run.stdout
    assert run.report["score"] == run.report["max_score"]


def hold(port: int, wait: float = 60.0) -> socket.socket:
    """Listen on 127.0.0.1:PORT, once whoever holds it now (another test's listener) lets go."""
    deadline = time.monotonic() + wait
    while True:
        holder = socket.socket()
        try:
            holder.bind(("127.0.0.1", port))
            holder.listen()
            return holder
        except OSError:
            holder.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_a_busy_lesson_port_is_a_warning_and_never_blocks_done(tmp_path):
    """Another program on 127.0.0.1:3000 and :5000 (the lesson's `make serve` in another terminal): the correct
    stages 02 and 04 still pass, exit 0, and say who holds the port."""
    holders = [hold(port) for port in (3000, 5000)]
    try:
        workdir = make_submission(tmp_path, "04-pure-asgi")
        shutil.copytree(SOLUTIONS / "02-agent-headers", workdir / "02-agent-headers")
        run = grade(workdir, "02-agent-headers", STAGE, tmp_path=tmp_path / "report")
    finally:
        for holder in holders:
            holder.close()
    assert run.returncode == 0 and run.report["score"] == run.report["max_score"], run.stdout
    assert "Every check passes." in run.stdout, run.stdout
    for port in (3000, 5000):
        assert f"holds port {port}" in run.stdout and "(pid " in run.stdout, run.stdout
