"""Secrets never leak into what a server prints."""

from __future__ import annotations

import pytest

from grader.compare import redact, secret_slices
from grader.probes import tail
from grader.verdict import CheckFailed


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
