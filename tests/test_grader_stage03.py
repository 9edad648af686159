"""The grader judges stage 03 middlewares right: each known mistake fails, and for its reason."""

import pytest

STAGE = "03-prefix-only"

# case -> (a check that must fail, text its output must contain)
MISTAKES = {
    "exact-path-only": ("every HTTP method on /mcp/sse without a key", "200 OK"),
    # GET meets the app's 405 first: not the guard's refusal either.
    "sse-only": ("every HTTP method on /mcp/messages/ without a key", "/mcp/messages/ (no X-API-Key header)"),
    "missing-header-passes": ("no X-API-Key header", "event stream"),
    "answers-403": ("no X-API-Key header", "403 Forbidden means"),
    "raw-prefix": ("behind a proxy (uvicorn --root-path, new every run): GET /mcp/sse without a key", "reverse proxy"),
    "get-only": ("every HTTP method on /mcp/messages/ without a key", "POST /mcp/messages/"),
    "str-compare": ("a non-ASCII key", "500"),
    "first-of-duplicates": ("the header twice: right, wrong", "twice"),
    "live-session-open": ("POST to a live SSE session's message endpoint (the endpoint itself)", "202"),
    "allowlists-endpoint-paths": ("every HTTP method on /mcp/messages/anything without a key", "/mcp/messages/anything"),
}


@pytest.mark.parametrize("case", sorted(MISTAKES))
def test_a_known_mistake_fails_for_its_reason(grade_case, case):
    name, evidence = MISTAKES[case]
    run = grade_case(STAGE, case)
    assert run.returncode == 1, run.stdout
    check = run.check(name)
    assert check["status"] == "failed", run.stdout
    assert evidence in check["output"], check["output"]
    assert run.report["score"] < run.report["max_score"]


def test_a_raw_prefix_check_fails_only_behind_the_proxy(grade_case):
    run = grade_case(STAGE, "raw-prefix")
    failed = {test["name"] for test in run.failed()}
    assert failed and all("behind a proxy" in name for name in failed), failed


def test_a_correct_alternative_passes(grade_case):
    """The guard wraps the mounted MCP app instead of checking a prefix."""
    run = grade_case(STAGE, "alt-guard-the-mount")
    assert run.returncode == 0, run.stdout
    assert run.report["score"] == run.report["max_score"]
