"""Secrets never leak into what a server prints."""

from __future__ import annotations

import pytest

from grader.compare import redact, secret_slices
from grader.probes import tail
from grader.verdict import CheckFailed, check, not_run


@pytest.mark.unscored
@pytest.mark.gate
def test_the_key_never_appears_in_the_server_output(session, launch, student, stage):
    """the key never appears in the server's output"""
    pieces = secret_slices(session.key)
    leaked = []
    for server in [student, *launch.extras.values()]:
        for line in server.log().splitlines():
            # The grader's own key-in-URL probes carry the run's marker: those lines are the grader's doing.
            if session.marker in line:
                continue
            if any(piece in line for piece in pieces):
                leaked.append(f"{server.label}: {redact(line, session.key)}")
    if leaked:
        raise CheckFailed(sent="every request above", got="the key (or part of it) in the server's output:\n"
                          + tail("\n".join(leaked)), expected="no line of output holds any part of the key "
                          "(no points for this stage while one does)", hint=stage.hint("leak"))


def stray_check(session, listener, stage, sent: str, hint: str) -> None:
    if listener is None:
        not_run(f"another program holds port {stage.port}, so the grader could not listen there for a stray key")
    pieces = secret_slices(session.key)
    strays = [data for data in listener.received if any(piece.encode() in data for piece in pieces)]
    check(not strays, sent=f"{sent}, while 127.0.0.1:{stage.port} listened",
          got=f"{len(strays)} request(s) to port {stage.port} carrying the key",
          expected="nothing sent to any address but MCP_SERVER_URL", hint=stage.hint(hint))
