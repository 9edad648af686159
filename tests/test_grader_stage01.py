"""The grader judges stage 01 submissions right: correct ones pass, broken ones fail for their reason."""

import shutil

import pytest

from tests.conftest import committed_exercises, grade, make_submission

STAGE = "01-middleware"


def test_a_submission_that_does_not_import_fails_at_the_import_check(grade_case):
    run = grade_case(STAGE, "does-not-import")
    assert run.returncode == 1, run.stdout
    imports = run.check("the code imports")
    assert imports["status"] == "failed"
    assert "ApiKeyMiddlewre" in imports["output"] and "ImportError" in imports["output"], imports["output"]
    later = run.check("the server starts")
    assert later["extra_data"]["outcome"] == "blocked" and "the code does not import" in later["output"], later
    assert run.report["score"] == 0, run.stdout


def test_a_server_that_raises_at_startup_fails_with_its_own_traceback(grade_case):
    run = grade_case(STAGE, "raises-at-startup")
    starts = run.check("the server starts")
    assert starts["status"] == "failed", run.stdout
    assert "exited with status" in starts["output"], starts["output"]
    assert "cannot reach the shopping-list database" in starts["output"], starts["output"]
    assert "the server did not start" in run.check("no X-API-Key header")["output"]
    assert run.report["score"] == 0


def test_a_server_that_never_binds_fails_as_not_started_measured_against_the_reference(grade_case):
    run = grade_case(STAGE, "never-binds")
    starts = run.check("the server starts")
    assert starts["status"] == "failed", run.stdout
    assert "did not answer on its port within" in starts["output"], starts["output"]
    assert "while the reference server started in" in starts["output"], starts["output"]
    assert "Waiting for application startup" in starts["output"], starts["output"]  # its log shows where it stuck


def test_an_import_that_hangs_fails_as_does_not_import_and_blocks_the_server_start(grade_case):
    run = grade_case(STAGE, "hangs-at-import")
    imports = run.check("the code imports")
    assert imports["status"] == "failed", run.stdout
    assert "the import did not finish within" in imports["output"], imports["output"]
    assert "waits for something at import time" in imports["output"], imports["output"]
    starts = run.check("the server starts")
    assert starts["extra_data"]["outcome"] == "blocked" and "the code does not import" in starts["output"], starts
    assert run.report["score"] == 0, run.stdout


def test_a_server_that_hangs_inside_a_request_fails_once_and_blocks_the_rest(grade_case):
    run = grade_case(STAGE, "hangs-in-request")
    first = [test for test in run.report["tests"] if "no answer within 5 s" in test["output"]]
    assert first, run.stdout
    assert "the server stopped answering earlier" in run.check("an MCP client with the key")["output"]
    assert run.report["score"] == 0


def test_a_server_that_exits_a_second_after_it_starts_scores_nothing(grade_case):
    run = grade_case(STAGE, "exits-after-a-second")
    alive, starts = run.check("the server is still running"), run.check("the server starts")
    # On a loaded machine it may die before it first answers: then it did not start, and says so.
    assert ("exited with status 0 during grading" in alive["output"]
            or "exited with status 0 before it answered" in starts["output"]), run.stdout
    assert run.returncode == 1 and run.report["score"] == 0, run.stdout


def test_a_middleware_that_lets_everyone_in_fails_every_refusal(grade_case):
    run = grade_case(STAGE, "lets-everyone-in")
    refusals = [test for test in run.report["tests"] if test["extra_data"]["scored"]]
    assert refusals and all(test["status"] == "failed" for test in refusals), run.stdout
    assert "200 OK" in run.check("no X-API-Key header")["output"]
    assert run.check("an MCP client with the key")["status"] == "passed"
    assert run.report["score"] == 0


def test_a_middleware_that_refuses_everyone_loses_what_it_breaks(grade_case):
    run = grade_case(STAGE, "refuses-everyone")
    assert run.check("the key:")["status"] == "failed", run.stdout
    assert "401 Unauthorized" in run.check("the key:")["output"]
    assert run.check("an MCP client with the key")["status"] == "failed"
    assert 0 < run.report["score"] < run.report["max_score"], run.stdout


def test_the_seed_guard_registered_but_not_hardened_fails_the_hardening_probes(tmp_path):
    workdir = make_submission(tmp_path, STAGE)
    shutil.copy(committed_exercises() / STAGE / "auth.py", workdir / STAGE / "auth.py")
    run = grade(workdir, STAGE, tmp_path=tmp_path)
    failed = {test["name"].split(": ", 1)[1].split(":")[0] for test in run.failed()}
    for weakness in ["started with API_KEY unset, empty or only spaces, the server refuses to start",
                     "the key is compared in constant time (hmac.compare_digest), never with ==, in or startswith",
                     "no X-API-Key header", "the header twice", "a non-ASCII key"]:
        assert any(name.startswith(weakness) for name in failed), f"{weakness!r} did not fail:\n{run.stdout}"
    assert "no WWW-Authenticate header" in run.check("no X-API-Key header")["output"]
    assert run.check("the key:")["status"] == "passed"
    assert run.report["score"] < run.report["max_score"] / 2, run.stdout


@pytest.mark.parametrize("case,failing", [
    ("accepts-the-first-of-two", "the header twice: right, wrong"),
    ("no-challenge", "no X-API-Key header"),
])
def test_a_guard_with_one_weakness_fails_for_it(grade_case, case, failing):
    run = grade_case(STAGE, case)
    assert run.check(failing)["status"] == "failed", run.stdout
    assert run.report["score"] < run.report["max_score"], run.stdout


@pytest.mark.parametrize("case", ["alt-add-middleware", "alt-pure-asgi"])
def test_a_correct_alternative_passes(grade_case, case):
    run = grade_case(STAGE, case)
    assert run.returncode == 0, run.stdout
    assert run.report["score"] == run.report["max_score"]
