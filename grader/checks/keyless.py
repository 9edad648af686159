"""Fail closed at start-up: a server started without a usable key must refuse to start.

The lessons teach it as one rule ("no usable API_KEY, no server"), and only that
rule can be checked without guessing: a server that starts without a key and
then compares presented keys with something it computed (from the host name,
the user, another process, a file) would let in whoever computes the same, and
no list of guesses covers every computation. So a key-less server that answers
on its port fails, whatever it answers.
"""

from __future__ import annotations

from grader.checks.declared import declared
from grader.harness import ServerDidNotStart
from grader.probes import Probe, send
from grader.verdict import CheckFailed


def test_a_server_without_a_key_does_not_serve(request, session, launch, stage, imports_ok):
    """started with API_KEY unset, empty or only spaces, the server refuses to start"""
    protected = declared(request).protected  # the stage's MCP endpoint
    for label, server in launch.keyless().items():
        how = label.removeprefix("keyless-")
        shown = {"unset": "API_KEY unset", "empty": "API_KEY=''", "blank": "API_KEY='   '"}[how]
        try:
            if server.refused_to_start():
                continue  # it exited before it served: failing closed
        except ServerDidNotStart as error:
            raise CheckFailed(
                sent=f"{shown} {server.where}", got=f"it neither exited nor answered: {error}",
                expected="the server refuses to start: it exits at once, with a message that says to set API_KEY",
                hint=stage.hint("fail_closed")) from None
        probe = Probe(protected.method, protected.path, protected.headers, protected.body, note="no X-API-Key header")
        got = send(server, probe)
        raise CheckFailed(
            sent=f"{shown} {server.where}", got=f"it answered on its port (to {probe.describe()}: {got.describe()})",
            expected="the server refuses to start (it exits with a message that says to set API_KEY): a server "
                     "without a usable key that keeps running checks presented keys against one it chose itself "
                     "(a default, a value computed from the machine, a key of spaces), and whoever chooses the "
                     "same gets in",
            hint=stage.hint("fail_closed"))
