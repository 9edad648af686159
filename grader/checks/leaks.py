"""Secrets never leak into what a server prints."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from grader.checks.declared import declared
from grader.compare import redact, secret_slices, shows
from grader.harness import run_dir
from grader.listener import port_holder
from grader.probes import tail
from grader.static import key_printed, read
from grader.verdict import CheckFailed, blocked_by, check, not_run


@pytest.mark.unscored
@pytest.mark.gate
def test_no_print_or_log_call_is_handed_the_key(request, launch, stage):
    """no print() or logging call in the server's code is handed the key or a presented credential"""
    if launch.missing:
        blocked_by("there is no submission folder")
    found = []
    guarded = declared(request).guarded_file
    for name in dict.fromkeys([guarded, stage.app.split(":")[0] + ".py"]):
        try:
            found += [f"{name} {line}" for line in key_printed(read(launch.student_dir / name))]
        except (OSError, SyntaxError):
            continue
    check(not found, sent=f"read {guarded}", got="; ".join(found),
          expected="the key and what clients present never reach print() or a logger, at any level "
                   "(no points for this stage while one does)", hint=stage.hint("leak"))


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
    for path in sorted(launch.student_dir.rglob("*")):
        try:
            if "__pycache__" in path.parts or not path.is_file() or path.stat().st_mtime < session.started_at:
                continue
            content = path.read_bytes()[:2_000_000].decode(errors="replace")
        except OSError:
            continue
        if any(piece in content for piece in pieces):
            leaked.append(f"the file {path.relative_to(launch.student_dir)}, written during grading, holds it")
    leaked += [f"the file {path}, which {label} wrote during grading, holds it"
               for label, path in written_elsewhere(launch) if holds_a_piece(path, pieces)]
    if leaked:
        raise CheckFailed(sent="every request above", got="the key (or part of it) in the server's output:\n"
                          + tail("\n".join(leaked)), expected="no line of output holds any part of the key "
                          "(no points for this stage while one does)", hint=stage.hint("leak"))


def written_elsewhere(launch) -> list[tuple[str, Path]]:
    """(server, file) for every file a server of the stage opened for writing outside its stage folder
    (read above) and outside the grader's own run folder (its logs, the key stores it prepared)."""
    found = []
    for server in launch.servers():
        if server.label.startswith("reference"):
            continue
        for path in server.written():
            if path.is_relative_to(run_dir()) or path.is_relative_to(launch.student_dir) or path.is_relative_to("/dev"):
                continue
            found.append((f"your server ({server.label})", path))
    return found


def holds_a_piece(path: Path, pieces) -> bool:
    try:
        content = path.read_bytes()[:2_000_000].decode(errors="replace")
    except OSError:
        return False
    return any(piece in content for piece in pieces)


def expect_client_keeps_the_key(session, output: str, reference_log: str, sent: str, *, output_hint: str,
                                url_hint: str) -> None:
    """A client's run printed no part of the key, and put none in a URL (the server's access log shows URLs;
    lines with the run's marker are the grader's own key-in-URL probes)."""
    if shows(output, session.key):
        raise CheckFailed(sent=sent, got="part of the key in the output:\n" + tail(redact(output, session.key)),
                          expected="no part of the key in the output", hint=output_hint)
    in_urls = [line for line in reference_log.splitlines() if session.marker not in line and shows(line, session.key)]
    if in_urls:
        raise CheckFailed(sent=sent, got="the key in the server's log (in a URL, as its access log shows):\n"
                          + tail(redact("\n".join(in_urls), session.key)), expected="the key in a header only",
                          hint=url_hint)


@dataclass
class Strays:
    """What a client's run showed of where it sent things: the listener on the lesson's port, and every
    address it connected to (only `allowed`, the server it was told about, is expected)."""

    listener: object  # grader.listener.Listener | None (another program held the port)
    connected: list[str]
    allowed: str


def stray_check(session, strays: Strays, stage, sent: str, hint: str) -> None:
    elsewhere = [address for address in strays.connected if address != strays.allowed]
    check(not elsewhere, sent=sent, got=f"connections to {', '.join(elsewhere)} as well",
          expected=f"connections to {strays.allowed} (MCP_SERVER_URL) only: the key goes nowhere else",
          hint=stage.hint(hint))
    if strays.listener is None:
        # Every connection the client made is in the list checked above; only the bytes it sent to the lesson's
        # port go unseen. A busy port is no fault of the student's: a warning, never a failed verdict.
        not_run(f"{port_holder(stage.port)} holds port {stage.port} (is `make serve` running in another terminal?), "
                "so the grader checked where the client connected but could not read what it sent there")
    pieces = secret_slices(session.key)
    found = [data for data in strays.listener.received if any(piece.encode() in data for piece in pieces)]
    check(not found, sent=f"{sent}, while 127.0.0.1:{stage.port} listened",
          got=f"{len(found)} request(s) to port {stage.port} carrying the key",
          expected="nothing sent to any address but MCP_SERVER_URL", hint=stage.hint(hint))
