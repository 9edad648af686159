"""Stage 02: the student's agent sends the key and really uses the MCP tools.

The agent runs against the reference server. Before it runs, the grader adds an
item with a random name to the reference shopping list; only an agent that
really called the tool through an authenticated session can print it.
"""

from __future__ import annotations

import secrets

import pytest

from grader.checks.common import test_imports  # noqa: F401  (runs first)
from grader.harness import run_python
from grader.mcp_session import sse_session
from grader.probes import tail
from grader.verdict import CheckFailed, blocked_by

STAGE = "02-agent-headers"
KEY = "super_secret_value"


@pytest.fixture(scope="module")
def agent_run(launch, stage, reference, imports_ok):
    """Run the student's agent once against the reference server, which holds a fresh random item."""
    marker = f"grader-{secrets.token_hex(3)}"
    added = sse_session(reference.base_url + stage.endpoint, {"X-API-Key": KEY}, "add_item",
                        {"name": marker, "quantity": 3})
    if not added.ok:
        raise RuntimeError(f"grader problem: could not add an item to the reference list: {added.describe()}")
    url = reference.base_url + stage.endpoint
    finished = run_python(launch.student_dir, [stage.client], env={"MCP_SERVER_URL": url}, timeout=90, label="agent")
    return marker, url, finished


def test_the_agent_prints_the_shopping_list_from_the_tool(agent_run, stage):
    """the agent connects with the key and prints the items the tool returned"""
    marker, url, finished = agent_run
    sent = f"MCP_SERVER_URL={url} python {stage.client} (the list holds a fresh item {marker!r})"
    if finished.ok and marker in finished.output:
        return
    output = finished.output
    if finished.timed_out:
        got, hint = "no result within 90 s", "The agent hangs: does it wait for input or loop forever?"
    elif "401" in output:
        got, hint = f"the server refused the agent:\n{tail(output)}", stage.hint("send_key")
    elif "Could not reach" in output or "onnect" in output:
        got, hint = f"the agent did not reach the server:\n{tail(output)}", stage.hint("url_from_env")
    else:
        got, hint = f"exit status {finished.returncode}:\n{tail(output)}", stage.hint("send_key")
    raise CheckFailed(sent=sent, got=got, expected=f"exit status 0 and the item {marker!r} in the output", hint=hint)


def test_the_key_travels_in_the_header_not_the_url(agent_run, reference, stage):
    """the key never appears in a URL (the server's access log stays clean)"""
    _, _, finished = agent_run
    if not finished.ok:
        blocked_by("the agent did not finish (see the check above)")
    leaked = [line for line in reference.log().splitlines() if KEY in line]
    if leaked:
        raise CheckFailed(sent=f"python {stage.client}", got="the key in the server's log:\n" + tail("\n".join(leaked)),
                          expected="no line of the log contains the key", hint=stage.hint("header_only"))
