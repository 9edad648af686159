"""Stage 02: the student's agent reads the key from the environment and sends it in a header.

The agent runs against the reference server. Before it runs, the grader adds an
item with a random name to the reference shopping list; only an agent that
really called the tool through an authenticated session can print it.
"""

from __future__ import annotations

import secrets

import pytest

from grader.checks.common import test_imports  # noqa: F401  (runs first)
from grader.compare import redact
from grader.connections import HOOK, destinations
from grader.harness import new_log, run_python
from grader.listener import listening_on
from grader.mcp_session import sse_session
from grader.probes import tail
from grader.checks.leaks import Strays, expect_client_keeps_the_key, stray_check
from grader.verdict import CheckFailed, blocked_by


@pytest.fixture(scope="module")
def agent_run(session, launch, stage, reference, imports_ok):
    """Run the student's agent once against the reference server, which holds a fresh random item."""
    marker = f"grader-{secrets.token_hex(3)}"
    url = reference.base_url + stage.endpoint
    added = sse_session(url, {"X-API-Key": session.key}, "add_item", {"name": marker, "quantity": 3})
    if not added.ok:
        raise RuntimeError(f"grader problem: could not add an item to the reference list: {added.describe()}")
    # Whatever reaches the lesson's default port meanwhile was sent where nobody told the agent to.
    before = len(reference.log().splitlines())
    connections = new_log("connections")
    with listening_on(stage.port) as listener:
        finished = run_python(launch.student_dir, ["-c", HOOK, stage.client], timeout=90, label="agent",
                              env={"MCP_SERVER_URL": url, "API_KEY": session.key,
                                   "GRADER_CONNECT_LOG": str(connections)})
    listener_seen = Strays(listener, destinations(connections), f"127.0.0.1:{reference.port}")
    return marker, url, finished, listener_seen, reference.log().splitlines()[before:]


def test_the_agent_prints_the_shopping_list_from_the_tool(session, agent_run, stage):
    """the agent connects with the key from API_KEY and prints the items the tool returned"""
    marker, url, finished, _, during = agent_run
    sent = f"MCP_SERVER_URL={url} API_KEY=<this run's key> python {stage.client} (the list holds a fresh item {marker!r})"
    # Only an MCP session shows in the access log as a POST to the message endpoint the stream advertised.
    used_mcp = any("POST /mcp/messages/" in line and " 202" in line for line in during)
    if finished.ok and marker in finished.output and used_mcp:
        return
    if finished.ok and marker in finished.output:
        raise CheckFailed(sent=sent, got="the item printed, but no MCP request reached the server (its access log "
                          "shows no POST to the message endpoint)", expected="the item, read through the MCP tools",
                          hint=stage.hint("send_key"))
    output = redact(finished.output, session.key)
    if finished.timed_out:
        got, hint = "no result within 90 s", "The agent hangs: does it wait for input or loop forever?"
    elif "401" in output:
        got, hint = f"the server refused the agent:\n{tail(output)}", stage.hint("send_key")
    elif "Could not reach" in output or "onnect" in output:
        got, hint = f"the agent did not reach the server:\n{tail(output)}", stage.hint("url_from_env")
    else:
        got, hint = f"exit status {finished.returncode}:\n{tail(output)}", stage.hint("send_key")
    raise CheckFailed(sent=sent, got=got, expected=f"exit status 0 and the item {marker!r} in the output", hint=hint)


@pytest.mark.unscored
@pytest.mark.gate
def test_the_key_travels_in_the_header_only(session, agent_run, reference, stage):
    """the key never appears in a URL (the server's access log) nor in the agent's output"""
    _, _, finished, _, _ = agent_run
    # What the agent already printed, and the URLs it already sent, are in the output and the access
    # log whether or not it finished: read them first, then say the rest could not be seen.
    expect_client_keeps_the_key(session, finished.output, reference.log(), f"python {stage.client}",
                                output_hint=stage.hint("header_only"), url_hint=stage.hint("header_only"))
    if not finished.ok:
        blocked_by("the agent did not finish (see the check above): no key in its output or in a URL so far")


@pytest.mark.unscored
@pytest.mark.gate
def test_the_agent_sends_the_key_nowhere_else(session, agent_run, stage):
    """the agent sends the key to MCP_SERVER_URL only (nothing reaches the lesson's default port)"""
    _, url, finished, listener, _ = agent_run
    stray_check(session, listener, stage, f"python {stage.client} with MCP_SERVER_URL={url}", "url_from_env")
