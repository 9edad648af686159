"""The grader judges stage 02 agents right: it runs them against the reference server with a fresh key."""

import pytest

STAGE = "02-agent-headers"
PRINTS_LIST = "the agent connects with the key from API_KEY"
HEADER_ONLY = "the key never appears in a URL"


@pytest.mark.parametrize("case", ["wrong-header-name", "key-in-query", "hard-coded-key"])
def test_an_agent_that_does_not_present_this_runs_key_is_refused_with_401(grade_case, case):
    run = grade_case(STAGE, case)
    check = run.check(PRINTS_LIST)
    assert check["status"] == "failed", run.stdout
    assert "401 Unauthorized" in check["output"] and "X-API-Key" in check["output"], check["output"]
    assert run.report["score"] == 0
    if case == "key-in-query":  # refused, so it never finished: the key it sent is in the access log all the same
        leak = run.check(HEADER_ONLY)
        assert leak["status"] == "failed" and "server's log" in leak["output"], leak["output"]


@pytest.mark.parametrize("case,where", [("key-in-query-and-header", "server's log"), ("prints-the-key", "output")])
def test_an_agent_that_leaks_the_key_scores_nothing(grade_case, case, where):
    run = grade_case(STAGE, case)
    assert run.check(PRINTS_LIST)["status"] == "passed", run.stdout
    leak = run.check(HEADER_ONLY)
    assert leak["status"] == "failed" and where in leak["output"], leak["output"]
    assert "<part of the key>" in leak["output"], leak["output"]  # the report never shows the key itself
    assert run.report["score"] == 0, run.stdout


def test_a_correct_alternative_passes(grade_case):
    """The header name in lower case."""
    run = grade_case(STAGE, "alt-lowercase-header")
    assert run.returncode == 0, run.stdout
    assert run.report["score"] == run.report["max_score"]
