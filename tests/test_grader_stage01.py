"""The grader judges stage 01 submissions right: correct ones pass, broken ones fail for their reason."""

import pytest

STAGE = "01-middleware"
# A server that never binds is given this long; keeps the test quick and bounded.
FAST_START = {"GRADER_START_TIMEOUT": "8"}


def test_a_submission_that_does_not_import_fails_at_the_import_check(grade_case):
    run = grade_case(STAGE, "does-not-import")
    assert run.returncode == 1, run.stdout
    imports = run.check("the code imports")
    assert imports["status"] == "failed"
    assert "ApiKeyMiddlewre" in imports["output"] and "ImportError" in imports["output"], imports["output"]
    later = run.check("the server starts")
    assert later["status"] == "failed" and "the code does not import" in later["output"], later
    assert run.report["score"] == 0, run.stdout


def test_a_server_that_raises_at_startup_fails_with_its_own_traceback(grade_case):
    run = grade_case(STAGE, "raises-at-startup")
    starts = run.check("the server starts")
    assert starts["status"] == "failed", run.stdout
    assert "exited with status" in starts["output"], starts["output"]
    assert "cannot reach the shopping-list database" in starts["output"], starts["output"]
    assert "the server did not start" in run.check("GET /items/ (no X-API-Key header)")["output"]


def test_a_server_that_never_binds_fails_within_the_start_timeout(grade_case):
    run = grade_case(STAGE, "never-binds", env=FAST_START)
    starts = run.check("the server starts")
    assert starts["status"] == "failed", run.stdout
    assert "did not answer on its port within 8 s" in starts["output"], starts["output"]


def test_a_server_that_hangs_inside_a_request_fails_once_and_blocks_the_rest(grade_case):
    run = grade_case(STAGE, "hangs-in-request")
    first = run.check("GET /items/ (no X-API-Key header)")
    assert first["status"] == "failed" and "no answer within 5 s" in first["output"], first
    session = run.check("an MCP client with the key")
    assert "the server stopped answering earlier" in session["output"], session


def test_a_middleware_that_lets_everyone_in_fails_every_refusal(grade_case):
    run = grade_case(STAGE, "lets-everyone-in")
    refused = [test for test in run.report["tests"] if test["name"].endswith("is refused")]
    assert len(refused) == 9
    assert all(test["status"] == "failed" for test in refused), run.stdout
    assert "200 OK" in run.check("GET /items/ (no X-API-Key header)")["output"]
    assert "event stream" in run.check("GET /mcp/sse (no X-API-Key header)")["output"]
    assert run.check("an MCP client without the key")["status"] == "failed"
    assert run.check("an MCP client with the key")["status"] == "passed"


def test_a_middleware_that_refuses_everyone_fails_every_let_through(grade_case):
    run = grade_case(STAGE, "refuses-everyone")
    let_through = [test for test in run.report["tests"] if test["name"].endswith("is let through")]
    assert len(let_through) == 6
    assert all(test["status"] == "failed" for test in let_through), run.stdout
    assert "401 Unauthorized" in let_through[0]["output"]
    assert run.check("an MCP client with the key")["status"] == "failed"


@pytest.mark.parametrize("case", ["alt-add-middleware", "alt-pure-asgi"])
def test_a_correct_alternative_passes(grade_case, case):
    run = grade_case(STAGE, case)
    assert run.returncode == 0, run.stdout
    assert run.report["score"] == run.report["max_score"]
