"""What every stage's checks share: the first links of the chain, the last one, and the attack table.

A stage's check module imports the first two tests at its top (so they run
first) and `test_server_is_still_running` at its bottom (so it runs last).
"""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from grader import attacks
from grader.attacks import KeyRow
from grader.checks.declared import Endpoint, Hints, declared  # noqa: F401  (stages import them from here)
from grader.compare import NOT_REACHED_BEHIND_THE_GUARD, expect_like_reference
from grader.harness import Server, ServerDidNotStart
from grader.launch import OTHER_KEY
from grader.redaction import redact
from grader.probes import Answer, Probe, live_session, send, tail
from grader.static import string_literals
from grader.verdict import CheckFailed, blocked_by, check


@pytest.mark.unscored
def test_imports(launch, stage):
    """the code imports"""
    modules = ", ".join(stage.modules)
    if launch.missing:
        raise CheckFailed(sent=f"import {modules}", got=f"there is no folder {launch.student_dir}",
                          expected=f"the stage's files: {', '.join(stage.files)}",
                          hint="Pass --workdir a folder laid out like exercises/ (one sub-folder per stage).")
    result = launch.import_result()
    if not result.ok:
        got = f"no result: {result.why}" if result.timed_out else f"an error:\n{tail(result.output, 30)}"
        raise CheckFailed(sent=f"python -c 'import {modules}' in {launch.student_dir.name}/", got=got,
                          expected="every module imports without error", hint=stage.hint("imports"))


@pytest.mark.unscored
def test_server_starts(launch, stage, imports_ok):
    """the server starts"""
    server = launch.student
    try:
        server.wait_ready()
    except ServerDidNotStart as error:
        raise CheckFailed(sent=server.where, got=f"{error}\n{tail(server.log(), 30)}",
                          expected="the server answers on its port", hint=stage.hint("starts")) from None


# A server must stay up at least this long after it first answered (seen as it happened), however fast
# the checks were: long enough to catch one that dies a second in.
MINIMUM_UPTIME = 1.5


@pytest.mark.unscored
@pytest.mark.gate
def test_server_is_still_running(launch, stage, student):
    """the server is still running after the checks"""
    waited = MINIMUM_UPTIME - (time.monotonic() - (student.ready_at or time.monotonic()))
    if waited > 0:
        time.sleep(waited)
    if student.hung:
        raise CheckFailed(sent="every request above, to `" + student.where + "`",
                          got=f"the server stopped answering during grading ({student.hung}); it is still running, "
                              "but a server that answers nothing serves nobody",
                          expected="the server answers every request until the grader stops it (no points for this "
                                   "stage while it does not)",
                          hint="Something in the request path blocks the event loop: a time.sleep, a synchronous "
                               "network call or a lock inside an async function stops every request, not just one.")
    stopped = [server for server in [student, *launch.extras.values()]
               if server.started and server.exit_status() is not None]
    if stopped:
        server = stopped[0]
        raise CheckFailed(sent=f"every request above, to `{server.where}`",
                          got=f"the server exited with status {server.exit_status()} during grading; its log ends:\n"
                              f"{tail(server.log(), 15)}",
                          expected="the server keeps running until the grader stops it (no points for this stage "
                                   "while it does not)", hint=stage.hint("still_running"))


# -- a live session is not a credential -----------------------------------------------------------------

INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                         "clientInfo": {"name": "attacker", "version": "1"}}}


@pytest.mark.parametrize("below", ["", "anything", "x/y"],
                         ids=["the endpoint itself", "a path below it: anything", "a path below it: x/y"])
def test_a_live_session_id_without_the_key_is_refused(request, below, session, student, stage):
    """POST to a live SSE session's message endpoint ({id}) without the key is refused"""
    with live_session(student, session.key) as message_path:
        path, query = message_path.split("?", 1)
        row = Probe("POST", f"{path}{below}?{query}", (), INITIALIZE, note="session id from a keyed stream, no key")
        got = send(student, row)
        # Refused, but without the challenge: that is what to fix, not the guard's place.
        topic = "challenge" if got.status == 401 and "challenge" in stage.hints else declared(request).live_session_hint
        check(got.status == 401 and got.challenge is not None, sent=row.describe(), got=got.describe(),
              expected="401 Unauthorized with a WWW-Authenticate header: whoever learns a session id "
                       "(it is in the access log) must not run tools with it",
              hint=stage.hint(topic))


# -- the shared attack table ---------------------------------------------------------------------------


def credential_params() -> list:
    """Every row of the shared table; the rows the starter already passes (the right key) are worth nothing."""
    return [pytest.param(row, id=row.name, marks=[pytest.mark.unscored] if row.let_in else [])
            for row in attacks.KEY_ROWS]


# The reference answers on a thread of its own while the student's server answers here:
# two servers, two processes, both cores busy, half the wait.
_BESIDE = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reference-requests")


def send_to_both(probe: Probe, student: Server, reference: Server) -> tuple[Answer, Answer]:
    """The same request to both servers at once; (the student's answer, the reference's)."""
    asked = _BESIDE.submit(send, reference, probe)
    try:
        got = send(student, probe)
    finally:
        expected = asked.result()  # never leave a request in flight behind a failure
    return got, expected


def judge(probe: Probe, student: Server, reference: Server, key: str, hints: Hints, *,
          let_in_hint: str | None = None, keep_out_hint: str | None = None, **options) -> None:
    kwargs = {"crash_hint": hints.crash, **options} if hints.crash else options
    got, expected = send_to_both(probe, student, reference)
    expect_like_reference(probe, got, expected,
                          let_in_hint=let_in_hint or hints.let_in, keep_out_hint=keep_out_hint or hints.keep_out,
                          log=student.log(), reference_with_key=lambda: send(reference, probe.with_key(key)),
                          challenge_hint=hints.challenge, secret=key, leak_hint=hints.leak, **kwargs)


def judge_row(row: KeyRow, endpoints: list[Endpoint], session, student: Server, reference: Server,
              hints: Hints, base_path: str = "") -> None:
    """ROW on every endpoint, each answered like the reference."""
    for endpoint in endpoints:
        probe = attacks.probe(row, session.key, session.marker, endpoint.method, base_path + endpoint.path,
                              endpoint.body, endpoint.headers)
        hint = hints.for_row(row)
        try:
            judge(probe, student, reference, session.key, hints, keep_out_hint=hint)
        except CheckFailed as failed:
            # When no key at all gets in here, that is the thing to fix first, not this near miss.
            bare = Probe(endpoint.method, base_path + endpoint.path, endpoint.headers, endpoint.body)
            if not row.let_in and hint != hints.keep_out and failed.hint == hint and send(student, bare).status < 400:
                failed.hint = hints.keep_out
            raise


def judge_every_method(path: str, session, student: Server, reference: Server, hints: Hints,
                       body: dict | None = None, headers: tuple[tuple[str, str], ...] = ()) -> None:
    for method in attacks.METHODS:
        probe = Probe(method, path, headers, body if method in ("POST", "PUT", "PATCH") else None,
                      note="no X-API-Key header", outcome="refused")
        # Every method, OPTIONS and HEAD included, must meet the guard: the app's 405 is no refusal.
        judge(probe, student, reference, session.key, hints, not_reached=NOT_REACHED_BEHIND_THE_GUARD)


NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{1,40}")


def test_the_key_under_a_name_from_your_code_is_refused(request, session, launch, student, reference, stage):
    """the key in the query string or a cookie, under any name your code mentions, is refused"""
    endpoint, key = declared(request).protected, session.key
    names = sorted(name for name in string_literals(launch.student_dir) if NAME.fullmatch(name))[:80]
    hints = declared(request).hints(stage)
    for name in names or ["api_key"]:
        probe = Probe(endpoint.method, f"{endpoint.path}?{name}={key}&grader_probe={session.marker}",
                      (*endpoint.headers, ("Cookie", f"{name}={key}")), endpoint.body,
                      note=f"no X-API-Key; the key as {name!r} in the query string and in a cookie",
                      outcome="refused", shown_path=f"{endpoint.path}?{name}=<the key>")
        judge(probe, student, reference, key, hints, keep_out_hint=hints.compare)


# Bounded: a fixed seed (derandomize), a fixed number of examples, no example database on disk.
NEAR_MISS_SETTINGS = settings(max_examples=40, derandomize=True, database=None, deadline=None,
                              phases=(Phase.generate, Phase.shrink), report_multiple_bugs=False,
                              suppress_health_check=list(HealthCheck))


def judge_random_near_misses(endpoint: Endpoint, session, student: Server, reference: Server, hints: Hints) -> None:
    """Random edits of the right key (Hypothesis), each answered like the reference."""
    key = session.key
    first: list[CheckFailed] = []

    @NEAR_MISS_SETTINGS
    @given(attacks.near_misses(key))
    def answered_like_the_reference(candidate: bytes) -> None:
        if candidate.strip() == key.encode():
            return  # HTTP strips the ends of a header value: that is the key itself
        probe = Probe(endpoint.method, endpoint.path, (*endpoint.headers, (attacks.HEADER, candidate)), endpoint.body,
                      note=f"X-API-Key: a near miss of the key ({len(candidate)} bytes; the key has {len(key)})",
                      outcome="refused")
        try:
            judge(probe, student, reference, key, hints, keep_out_hint=hints.compare)
        except CheckFailed as failed:
            first.append(failed)
            raise

    try:
        answered_like_the_reference()
    except Exception:
        # Whatever Hypothesis makes of it (a shrunk example, a flaky one), report the first plain failure:
        # what was sent in words, never the near miss itself (it is most of the key).
        if first:
            raise first[0] from None
        raise


# -- a refusal tells nothing about the key ---------------------------------------------------------------


def refusal_probes(endpoint: Endpoint, key: str, other_key: str) -> list[Probe]:
    """Wrong keys sent alike to two servers with different keys: none, a plain wrong one, near misses of each."""
    changed = {secret: secret[:-1] + ("y" if secret.endswith("x") else "x") for secret in (key, other_key)}
    shown = {"": "no X-API-Key header", "not-the-key": "X-API-Key: not-the-key",
             changed[key]: "X-API-Key: the first key, last character changed",
             changed[other_key]: "X-API-Key: the second key, last character changed",
             "x" * len(key): f"X-API-Key: {len(key)} x's", "x" * len(other_key): f"X-API-Key: {len(other_key)} x's"}
    return [Probe(endpoint.method, endpoint.path, (*endpoint.headers, *(((attacks.HEADER, value),) if value else ())),
                  endpoint.body, note=note) for value, note in shown.items()]


def _as_seen(answer: Answer) -> tuple:
    """What a client reads in an answer, less what changes by itself (the date)."""
    headers = sorted((name.lower(), value) for name, value in answer.headers.items() if name.lower() != "date")
    return answer.status, headers, answer.body, answer.first_event


@pytest.mark.unscored
@pytest.mark.gate
def test_a_refusal_tells_nothing_about_the_key(request, session, launch, student, stage):
    """a refusal is the same whatever the server's key (no part, length or digest of it)"""
    twin = launch.extras[OTHER_KEY]
    try:
        twin.wait_ready()
    except ServerDidNotStart as error:
        blocked_by("the server did not start with a second key", str(error))
    for endpoint in declared(request).endpoints:
        for probe in refusal_probes(endpoint, session.key, launch.other_key):
            first, second = send(student, probe), send(twin, probe)
            if first.status != 401 or second.status != 401:
                continue  # not both refused by the guard: the credential checks judge that
            if _as_seen(first) == _as_seen(second):
                continue
            # Shorter slices than usual hidden: this answer may show a few characters of either key.
            shown = [redact(redact(answer.describe() + "; headers " + ", ".join(
                f"{name}: {value}" for name, value in _as_seen(answer)[1]), session.key, 4), launch.other_key, 4)
                for answer in (first, second)]
            raise CheckFailed(
                sent=f"{probe.describe()} to your server started with a {len(session.key)}-character key, and to it "
                     f"started with another {len(launch.other_key)}-character key",
                got=f"two different refusals:\n    first key:  {shown[0]}\n    second key: {shown[1]}",
                expected="the same refusal from both (as the reference answers): whatever differs with the key "
                         "(a slice of it, its length, its hash, how close the guess came) tells an attacker about it",
                hint=stage.hint("leak"))
