"""Fail closed at start-up: a server started without a usable key must not serve MCP."""

from __future__ import annotations

from grader.harness import ServerDidNotStart
from grader.probes import Probe, send
from grader.static import string_literals
from grader.verdict import CheckFailed

# Keys that tutorials publish as defaults: a server that falls back to one is open to anyone who read them.
PUBLISHED_DEFAULTS = ["your-secure-api-key-change-this", "super_secret_value", "changeme", "secret", "test"]


def test_a_server_without_a_key_does_not_serve(request, session, launch, stage, imports_ok):
    """started with API_KEY unset, empty or only spaces, the server exits (or refuses every key)"""
    protected = request.module.PROTECTED  # the stage's MCP endpoint: an Endpoint
    # None: no header. The run's key too: a server never given it must not know it (from another process, a file).
    guesses = [None, "", session.key, *PUBLISHED_DEFAULTS, *sorted(string_literals(launch.student_dir))]
    for label, server in launch.keyless().items():
        how = label.removeprefix("keyless-")
        shown = {"unset": "API_KEY unset", "empty": "API_KEY=''", "blank": "API_KEY='   '"}[how]
        try:
            server.wait_ready()
        except ServerDidNotStart:
            continue  # exiting is the clearest way to fail closed
        for guess in guesses:
            headers = (*protected.headers, ("X-API-Key", guess)) if guess is not None else protected.headers
            words = "the run's key" if guess == session.key else repr(guess)
            probe = Probe(protected.method, protected.path, headers, protected.body,
                          note=f"X-API-Key: {words}" if guess is not None else "no X-API-Key header")
            got = send(server, probe)
            if got.status < 400:  # it served: whoever guessed this key is in
                raise CheckFailed(
                    sent=f"{shown} {server.where}; then {probe.describe()}", got=got.describe(),
                    expected="the server exits at start-up, or refuses this request with 401",
                    hint=stage.hint("fail_closed"))
