"""The grader judges stage 02 agents right: it runs them against the reference server."""

STAGE = "02-agent-headers"
PRINTS_LIST = "the agent connects with the key and prints the items"
NOT_IN_URL = "the key never appears in a URL"


def test_an_agent_under_another_header_name_is_refused_with_401(grade_case):
    run = grade_case(STAGE, "wrong-header-name")
    check = run.check(PRINTS_LIST)
    assert check["status"] == "failed", run.stdout
    assert "401 Unauthorized" in check["output"] and "X-API-Key" in check["output"], check["output"]


def test_an_agent_with_the_key_in_the_query_string_is_refused(grade_case):
    run = grade_case(STAGE, "key-in-query")
    assert run.check(PRINTS_LIST)["status"] == "failed", run.stdout
    assert "401" in run.check(PRINTS_LIST)["output"]


def test_a_key_in_the_url_as_well_as_the_header_is_caught_in_the_log(grade_case):
    run = grade_case(STAGE, "key-in-query-and-header")
    assert run.check(PRINTS_LIST)["status"] == "passed", run.stdout
    leak = run.check(NOT_IN_URL)
    assert leak["status"] == "failed" and "api_key=super_secret_value" in leak["output"], leak["output"]
    assert "header only" in leak["output"]


def test_a_correct_alternative_passes(grade_case):
    """The header name in lower case."""
    run = grade_case(STAGE, "alt-lowercase-header")
    assert run.returncode == 0, run.stdout
    assert run.report["score"] == run.report["max_score"]
