"""What an attacker (or a sloppy student) submits, and what the grader must say about it.

Every submission here is a fixture in tests/broken/<stage>/attack-*.toml, found by
reading the grader as an attacker would. The grader must never be wrong: a correct
alternative passes with full marks, a wrong submission loses points for its reason,
and no report ever shows the key.

To stay within a few minutes, one grader run grades one submission of several
stages at once (`python -m grader 01 02 03 04 --workdir W`), and several tests read
that run. Tests that fail name a mistake of the grader; fix the grader, not them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from grader.compare import redact
from grader.harness import child_env
from grader.static import key_comparisons
from grader.stages import ROOT
from tests.conftest import BROKEN, GradeRun, grade, make_submission, processes_under

S01, S02, S03, S04 = "01-middleware", "02-agent-headers", "03-prefix-only", "04-pure-asgi"

# One grader run each: {stage: fixture}.
RUNS = {
    "alternatives": {S01: "attack-alt-decorator-lazy", S02: "attack-alt-key-read-in-main",
                     S03: "attack-alt-substring", S04: "attack-alt-raise-at-import-exact-path"},
    "misread-alternatives": {S01: "attack-alt-sha256-digests", S03: "attack-alt-guard-class-with-prefix",
                             S04: "attack-alt-named-constants"},
    "backdoors": {S01: "attack-session-id-exempt", S02: "attack-bypasses-mcp",
                  S03: "attack-trusts-forwarded-prefix", S04: "attack-raw-path-minus-root"},
    "leaks": {S01: "attack-prints-key-hex", S02: "attack-key-to-another-port", S03: "attack-writes-key-to-file",
              S04: "attack-client-forges-the-forecast"},
    "report": {S01: "attack-flaky-near-miss", S03: "attack-prints-key-then-crashes",
               S04: "attack-exits-after-a-second-printing-key"},
    "fail-open": {S01: "attack-concatenated-default-key", S04: "attack-logs-key-at-info"},
    "more": {S01: "attack-trusts-x-forwarded-for-loopback", S03: "attack-strips-the-value",
             S04: "attack-client-key-to-another-port"},
    "fallbacks": {S01: "attack-query-fallback-access-token", S04: "attack-cookie-fallback"},
    "caught": {S01: "attack-skips-head", S03: "attack-session-id-exempt", S04: "attack-caches-session-id"},
    # Issue 22: the same ideas in new clothes.
    "computed": {S01: "attack-computed-default-key", S04: "attack-refusal-names-part-of-the-key"},
    "lesson-traps": {S01: "attack-blank-key-not-stripped", S04: "attack-guard-accepts-an-empty-key"},
    "elsewhere": {S01: "attack-writes-key-to-temp-folder", S04: "attack-options-passes-through"},
    "watched": {S01: "attack-detects-the-grader", S04: "attack-keyless-start-waits"},
}

# Fixtures graded by hand once and kept for the record (the report of branch `attack` has their verdicts):
# the grader judged them right, or they repeat a case above in another stage.
RECORD = {
    S01: ["attack-caches-per-connection", "attack-exits-on-the-grader-user-agent", "attack-opens-after-200-requests",
          "attack-trusts-x-forwarded-for", "attack-logs-key-at-info", "attack-writes-key-to-file",
          "attack-steals-key-from-proc", "attack-strips-the-value", "attack-prints-key-then-crashes"],
    S02: ["attack-key-in-fragment"],
    S03: ["attack-raw-path", "attack-any-value-on-messages"],  # (attack-steals-key-from-proc: its own test)
    S04: ["attack-raw-path", "attack-key-in-401-header", "attack-crash-names-the-key", "attack-sleeps-on-a-wrong-key",
          "attack-client-key-in-fragment"],
}

def on(run: str):
    """Under xdist, the tests that read one run share a worker, so the run is graded once."""
    return pytest.mark.xdist_group(f"attacks-{run}")


# The fixtures print the key after this word, so a test can tell whether a report shows it.
LEAKED = re.compile(r"LEAKMARK=([A-Za-z0-9_\-]{4,})")


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """graded(RUN) -> the GradeRun of that run of RUNS, graded once per module."""
    done: dict[str, GradeRun] = {}

    def run(name: str) -> GradeRun:
        if name not in done:
            base = tmp_path_factory.mktemp(name)
            workdir = base / "submission"
            workdir.mkdir()
            for stage, case in RUNS[name].items():
                built = make_submission(base / "parts", stage, case)
                shutil.move(str(built / stage), str(workdir / stage))
            done[name] = grade(workdir, *RUNS[name], tmp_path=base / "report")
            assert processes_under(workdir) == [], "the grader left processes behind"
        return done[name]

    return run


def stage_score(run: GradeRun, stage: str) -> tuple[float, float]:
    tests = [test for test in run.report["tests"] if test["name"].startswith(stage + ":")]
    return round(sum(t["score"] for t in tests), 2), round(sum(t["max_score"] for t in tests), 2)


def failures(run: GradeRun, stage: str) -> str:
    return "\n".join(f"{test['name']}:\n{test['output']}" for test in run.report["tests"]
                     if test["name"].startswith(stage + ":") and test["status"] != "passed")


def assert_full_marks(run: GradeRun, stage: str) -> None:
    score, most = stage_score(run, stage)
    assert score == most, f"{stage}: {score}/{most}\n{failures(run, stage)}"


def assert_fails(run: GradeRun, stage: str, title: str, evidence: str) -> None:
    """The check TITLE (or the one that begins with it) of STAGE failed, its output naming EVIDENCE."""
    found = [test for test in run.report["tests"] if test["name"].startswith(f"{stage}: {title}")]
    assert found and found[0]["status"] == "failed", failures(run, stage) or run.stdout
    assert evidence in found[0]["output"], found[0]["output"]
    assert_loses_points(run, stage)


KEYLESS = "started with API_KEY unset, empty or only spaces, the server refuses to start"


def assert_loses_points(run: GradeRun, stage: str) -> None:
    score, most = stage_score(run, stage)
    assert score < most, f"{stage}: full marks ({score}/{most}) for a wrong submission"


# -- correct alternatives: full marks -----------------------------------------------------------


@on("alternatives")
@pytest.mark.parametrize("stage", [S01, S02, S03, S04])
def test_a_correct_alternative_written_differently_passes_with_full_marks(graded, stage):
    """01: @app.middleware, raise SystemExit, the key read per request, another challenge, a text body;
    02: os.environ[...] inside main(); 03: any path containing /mcp; 04: RuntimeError at import, exact path."""
    assert_full_marks(graded("alternatives"), stage)


@on("misread-alternatives")
def test_comparing_sha256_digests_with_secrets_compare_digest_passes_with_full_marks(graded):
    assert_full_marks(graded("misread-alternatives"), S01)


@on("misread-alternatives")
def test_a_guard_that_keeps_its_prefix_on_self_passes_with_full_marks(graded):
    assert_full_marks(graded("misread-alternatives"), S03)


@on("misread-alternatives")
def test_a_header_name_constant_and_a_literal_membership_test_pass_with_full_marks(graded):
    assert_full_marks(graded("misread-alternatives"), S04)


# The constant-time check reads source: these comparisons involve no key value.
NOT_KEY_COMPARISONS = {
    "the header name in a constant whose name holds KEY": '''
        import hmac
        API_KEY_HEADER = b"x-api-key"
        def valid(scope, key):
            values = [v for n, v in scope["headers"] if n == API_KEY_HEADER]
            return len(values) == 1 and hmac.compare_digest(values[0], key)
        ''',
    "a key tested against literals to fail closed": '''
        import hmac
        def build(api_key):
            if api_key in ("", None):
                raise ValueError("no key")
            return hmac.compare_digest(b"", api_key.encode())
        ''',
    "a path compared with an attribute of an object that also holds the key": '''
        import hmac
        class Guard:
            def __init__(self, key, prefix="/mcp"):
                self._key, self.prefix = key.encode(), prefix
            def protects(self, path):
                return path == self.prefix or path.startswith(self.prefix + "/")
            def valid(self, value):
                return hmac.compare_digest(value, self._key)
        ''',
    "another header's value (X-Forwarded-For) with startswith": '''
        import hmac
        def internal(request, key):
            hmac.compare_digest(b"", key)
            return request.headers.get("x-forwarded-for", "").startswith("127.")
        ''',
}


@pytest.mark.parametrize("source", NOT_KEY_COMPARISONS.values(), ids=NOT_KEY_COMPARISONS.keys())
def test_the_constant_time_check_flags_only_comparisons_of_key_values(source):
    uses_compare_digest, flagged = key_comparisons(textwrap.dedent(source))
    assert uses_compare_digest and flagged == []


# -- wrong submissions the grader lets through: each must lose points --------------------------------


@on("backdoors")
def test_a_guard_that_lets_a_session_id_stand_in_for_the_key_fails_in_stage_01(graded):
    assert_loses_points(graded("backdoors"), S01)


@on("backdoors")
def test_an_agent_that_skips_mcp_and_reads_the_rest_route_fails(graded):
    assert_loses_points(graded("backdoors"), S02)


@on("backdoors")
def test_a_guard_that_takes_the_root_path_from_x_forwarded_prefix_fails(graded):
    assert_loses_points(graded("backdoors"), S03)


@on("backdoors")
def test_a_stage_04_guard_that_matches_on_raw_path_fails(graded):
    """POST /%6Dcp routes to /mcp; a guard reading scope["raw_path"] lets it through."""
    assert_loses_points(graded("backdoors"), S04)


@on("leaks")
def test_a_server_that_prints_the_key_in_hex_fails(graded):
    assert_loses_points(graded("leaks"), S01)


@on("leaks")
def test_an_agent_that_sends_the_key_to_another_port_fails(graded):
    assert_loses_points(graded("leaks"), S02)


@on("leaks")
def test_a_server_that_writes_the_key_to_a_file_fails(graded):
    assert_loses_points(graded("leaks"), S03)


@on("leaks")
def test_a_client_that_prints_a_forecast_without_calling_the_tool_fails(graded):
    assert_loses_points(graded("leaks"), S04)


@on("fail-open")
def test_a_server_that_falls_back_to_a_default_key_built_from_pieces_fails(graded):
    assert_loses_points(graded("fail-open"), S01)


def test_a_server_that_borrows_another_processs_key_when_it_has_none_fails(tmp_path):
    """Whose key it borrows (here: a shell that exported one) does not matter: without its own, it must not start."""
    # The fixture reads a process's first variable only (it splits /proc/PID/environ on a backslash and a zero).
    shell = subprocess.Popen(["sleep", "300"], env={"API_KEY": "a-key-another-shell-exported", "PATH": os.environ["PATH"]})
    try:
        while b"API_KEY=" not in Path(f"/proc/{shell.pid}/environ").read_bytes():
            time.sleep(0.01)  # until it runs `sleep` (before, /proc shows this process's environment)
        workdir = make_submission(tmp_path, S03, "attack-steals-key-from-proc")
        run = grade(workdir, S03, tmp_path=tmp_path / "report")
    finally:
        shell.kill()
        shell.wait()
    assert_fails(run, S03, KEYLESS, "API_KEY unset")


@on("fail-open")
def test_a_server_that_logs_the_key_at_info_fails(graded):
    assert_loses_points(graded("fail-open"), S04)


@on("more")
def test_a_guard_that_trusts_a_loopback_x_forwarded_for_fails(graded):
    assert_loses_points(graded("more"), S01)


@on("more")
def test_a_guard_that_strips_a_latin1_no_break_space_off_the_value_fails(graded):
    assert_loses_points(graded("more"), S03)


@on("more")
def test_a_client_that_sends_the_key_to_another_port_fails(graded):
    assert_loses_points(graded("more"), S04)


@on("fallbacks")
def test_a_guard_that_also_takes_the_key_from_an_access_token_query_parameter_fails(graded):
    assert_loses_points(graded("fallbacks"), S01)


@on("fallbacks")
def test_a_guard_that_also_takes_the_key_from_a_cookie_named_mcp_key_fails(graded):
    assert_loses_points(graded("fallbacks"), S04)


@on("caught")
@pytest.mark.parametrize("stage,title,evidence", [
    (S01, "every HTTP method on /mcp/sse without a key is refused", "HEAD /mcp/sse"),
    (S03, "POST to a live SSE session's message endpoint", "202 Accepted"),
    (S04, "a follow-up POST (tools/list) with a valid session id but no key is refused", "200 OK"),
])
def test_a_guard_with_a_hole_the_grader_probes_fails_for_it(graded, stage, title, evidence):
    """HEAD skipping the guard (01), a session id standing in for the key (03), a remembered Mcp-Session-Id (04)."""
    run = graded("caught")
    found = [test for test in run.report["tests"] if test["name"].startswith(f"{stage}: {title}")]
    assert found and all(test["status"] == "failed" for test in found), failures(run, stage)
    assert evidence in found[0]["output"] and "hint:" in found[0]["output"], found[0]["output"]
    assert_loses_points(run, stage)


def test_every_attack_fixture_is_graded_here_or_recorded_and_still_applies(tmp_path):
    graded_here = {(stage, case) for cases in RUNS.values() for stage, case in cases.items()}
    graded_here.add((S03, "attack-steals-key-from-proc"))  # by its own test, with a key to borrow
    recorded = {(stage, case) for stage, cases in RECORD.items() for case in cases}
    on_disk = {(path.parent.name, path.stem) for path in BROKEN.glob("*/attack-*.toml")}
    assert on_disk == graded_here | recorded
    for stage, case in sorted(recorded):
        make_submission(tmp_path / stage, stage, case)  # fails when the solution no longer holds an edit's old text


@on("computed")
def test_a_server_that_computes_a_key_when_it_has_none_fails(graded):
    """From the host name and the user: the grader cannot guess every computation, so a key-less server must not start."""
    assert_fails(graded("computed"), S01, KEYLESS, "API_KEY unset")


@on("computed")
def test_a_refusal_that_tells_the_keys_length_and_first_characters_scores_nothing(graded):
    """Six characters, fewer than any slice a leak scan looks for: the refusal differs with the key, which is enough."""
    run = graded("computed")
    assert_fails(run, S04, "a refusal is the same whatever the server's key", "two different refusals")
    assert stage_score(run, S04)[0] == 0, failures(run, S04)


@on("lesson-traps")
def test_a_key_of_spaces_that_is_not_stripped_fails(graded):
    """Lesson 01's table: API_KEY="   " must refuse to start; unstripped, it serves with a key of spaces."""
    assert_fails(graded("lesson-traps"), S01, KEYLESS, "API_KEY='   '")


@on("lesson-traps")
def test_a_stage_04_guard_that_can_be_built_with_an_empty_key_fails(graded):
    """The server refuses to start without a key, but lesson 04 asks the guard itself to refuse an empty one."""
    assert_fails(graded("lesson-traps"), S04, 'ApiKeyAuthMiddleware(app, api_key="")', "an empty X-API-Key: 200")


@on("elsewhere")
def test_a_server_that_writes_the_key_to_the_temp_folder_scores_nothing(graded):
    run = graded("elsewhere")
    for cache in Path(tempfile.gettempdir()).glob("mcp-key-cache-*.txt"):  # what the fixture left behind
        if not Path("/proc", cache.stem.rsplit("-", 1)[1]).exists():
            cache.unlink(missing_ok=True)
    assert_fails(run, S01, "the key never appears in the server's output", "mcp-key-cache-")
    assert stage_score(run, S01)[0] == 0, failures(run, S01)


@on("elsewhere")
def test_a_guard_that_lets_options_through_to_the_apps_405_fails(graded):
    """The app's 405 is not a refusal: only the guard's 401 with its challenge is."""
    assert_fails(graded("elsewhere"), S04, "every HTTP method on /mcp without a key is refused", "OPTIONS /mcp")


@on("watched")
def test_a_server_that_waits_for_a_key_instead_of_exiting_fails(graded):
    """Never answering is not refusing: only a start-up that exits is failing closed."""
    assert_fails(graded("watched"), S04, KEYLESS, "it neither exited nor answered")


@on("watched")
def test_a_server_that_fails_closed_only_while_graded_fails(graded):
    """attack-detects-the-grader falls back to a published key unless GRADER_OWNER is set: nothing tells it now."""
    assert_fails(graded("watched"), S01, KEYLESS, "API_KEY unset")


def test_student_processes_cannot_tell_they_are_being_graded(tmp_path):
    """Every server the grader starts sees what `make serve` would show it: the same environment
    (no GRADER_* or PYTEST_* marks), the same command line but the port, the same folder.

    One exception, on purpose: the key-less start is graded from a copy of the stage without its
    `.env` (the lessons have students write one), so that one server runs in another folder. What
    it could learn from that is that it has no key, which is what it must notice anyway."""
    workdir = make_submission(tmp_path / "sub", S01)
    seen = tmp_path / "seen.jsonl"
    auth = workdir / S01 / "auth.py"
    auth.write_text(textwrap.dedent(f"""
        import json as _json, os as _os, re as _re, sys as _sys
        with open({str(seen)!r}, "a") as _out:
            _port = lambda args: [_re.sub(r"^\\d+$", "PORT", arg) for arg in args]
            _out.write(_json.dumps({{"env": sorted(set(_os.environ) - {{"API_KEY"}}), "argv": _port(_sys.argv),
                                    "orig_argv": _port(_sys.orig_argv), "cwd": _os.getcwd()}}) + "\\n")
        """) + auth.read_text())
    graded_run = grade(workdir, S01, tmp_path=tmp_path / "report", env={"NO_COLOR": "1"})
    # The servers (the import check is a `python -c` of its own, as the stage's first hint asks a student to run).
    as_graded = [fingerprint for line in seen.read_text().splitlines()
                 if (fingerprint := json.loads(line))["orig_argv"][1:3] == ["-m", "uvicorn"]]
    seen.unlink()
    # `make serve STAGE=01 WORKDIR=...` (a relative WORKDIR: course.run names the folder relative to the repository)
    serve = subprocess.Popen([sys.executable, "-m", "course.run", "serve", "01", "--workdir", os.path.relpath(workdir, ROOT)],
                             cwd=ROOT, env={**os.environ, "NO_COLOR": "1", "API_KEY": "any-key-for-make-serve"},
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not (seen.exists() and seen.read_text().endswith("\n")) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        os.killpg(serve.pid, signal.SIGTERM)
        serve.wait(timeout=30)
    as_served = json.loads(seen.read_text().splitlines()[0])
    assert as_graded, graded_run.stdout
    in_copies = [fingerprint for fingerprint in as_graded if fingerprint["cwd"] != as_served["cwd"]]
    assert len(in_copies) <= 1, f"more than the key-less start ran outside the student's folder: {in_copies}"
    for fingerprint in as_graded:
        if fingerprint in in_copies:
            assert Path(fingerprint["cwd"]).name == Path(as_served["cwd"]).name, fingerprint
            fingerprint = {**fingerprint, "cwd": as_served["cwd"]}
        assert fingerprint == as_served, f"graded: {fingerprint}\nmake serve: {as_served}"


def test_the_grader_tracks_its_processes_without_a_mark_in_their_environment():
    assert not [name for name in child_env() if name.startswith("GRADER_")]


# -- the report never shows the key, and a failure always reads as sent/got/expected/hint ------------


@on("report")
@pytest.mark.parametrize("stage", [S03, S04])
def test_a_report_never_shows_a_key_the_server_printed_before_it_died(graded, stage):
    run = graded("report")
    assert_loses_points(run, stage)
    shown = LEAKED.findall(run.stdout + str(run.report))
    assert shown == [], f"the report shows the key: {shown}"


@on("report")
def test_a_flaky_guard_fails_the_near_misses_with_a_plain_report_that_holds_no_near_miss(graded):
    run = graded("report")
    near = next(test for test in run.report["tests"] if test["name"].startswith(f"{S01}: random near misses"))
    assert near["status"] == "failed", run.stdout
    assert near["output"].startswith("sent:"), near["output"][:2000]
    assert "candidate=" not in near["output"], near["output"][:2000]


def test_redacting_a_line_leaves_no_character_of_the_key_in_it():
    """Overlapping 8-character slices replaced one by one leave fragments between them (up to half the key)."""
    for key in ["NcX8uQw3-ZkT5_rLp0aVbYe2Hs9JdMfG", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "ab" * 16]:
        redacted = redact(f"expected LEAKMARK={key} here", key)
        assert redacted == "expected LEAKMARK=<part of the key> here", redacted
