"""The agent's one-sentence explanation of a refused connection reads the server's own challenge."""

from __future__ import annotations

import pytest

from grader.harness import Server
from grader.stages import SOLUTIONS
from workshop.errors import explain_refusal

KEY = "the-servers-key-for-this-test"


@pytest.fixture(scope="module")
def stage02_server():
    server = Server(SOLUTIONS / "02-agent-headers", "main:app", env={"API_KEY": KEY}, label="refusal-02")
    yield server.wait_ready()
    server.stop()


@pytest.fixture(scope="module")
def stage04_server():
    server = Server(SOLUTIONS / "04-pure-asgi", "secure_weather_server:app", env={"API_KEY": KEY},
                    label="refusal-04")
    yield server.wait_ready()
    server.stop()


def test_a_key_sent_as_a_bearer_token_is_told_the_server_wants_x_api_key(stage02_server):
    """A stage-02 agent that sends Authorization: Bearer <key>: the server's challenge names X-API-Key."""
    url = f"{stage02_server.base_url}/mcp/sse"
    error = RuntimeError("Error initializing MCP server: HTTP error 401 (Unauthorized)")  # as the SDK words it
    text = explain_refusal(error, url, {"Authorization": f"Bearer {KEY}"})
    assert "401" in text and "X-API-Key header" in text, text
    assert "access token" not in text and "The client sent Authorization" in text, text
    assert KEY not in text


def test_a_lost_status_is_asked_for_and_the_challenge_read(stage04_server):
    """Over streamable HTTP the SDK loses the status: the explanation asks the server, and reads its challenge."""
    url = f"{stage04_server.base_url}/mcp"
    text = explain_refusal(ExceptionGroup("lost", [RuntimeError("Server returned an error response")]), url,
                           {"X-API-Key": "wrong"})
    assert "401" in text and 'ApiKey header="X-API-Key"' in text, text
    assert "The client sent" not in text, text  # it sent the header the server asks for, only a wrong value
