"""The grader judges stage 03 middlewares right: each known mistake fails, and for its reason."""

import pytest

STAGE = "03-prefix-only"

# case -> (a check that must fail, text its output must contain)
MISTAKES = {
    "exact-path-only": ("every HTTP method on /mcp/sse without a key", "200 OK"),
    "sse-only": ("POST /mcp/messages/ (no X-API-Key header) is refused", "POST /mcp/messages/"),
    "missing-header-passes": ("GET /mcp/sse (no X-API-Key header) is refused", "event stream"),
    "answers-403": ("GET /mcp/sse (no X-API-Key header) is refused", "403 Forbidden means"),
    "raw-prefix": ("behind a proxy (--root-path /api): GET /mcp/sse (no X-API-Key header)", "root_path"),
    "get-only": ("every HTTP method on /mcp/messages/ without a key", "POST /mcp/messages/"),
    "str-compare": ("GET /mcp/sse (a non-ASCII key)", "compare bytes"),
    "first-of-duplicates": ("GET /mcp/sse (the header twice: right, wrong)", "twice"),
    "live-session-open": ("POST to a live session's message endpoint", "202"),
}


@pytest.mark.parametrize("case", sorted(MISTAKES))
def test_a_known_mistake_fails_for_its_reason(grade_case, case):
    name, evidence = MISTAKES[case]
    run = grade_case(STAGE, case)
    assert run.returncode == 1, run.stdout
    check = run.check(name)
    assert check["status"] == "failed", run.stdout
    assert evidence in check["output"], check["output"]


def test_a_raw_prefix_check_passes_everything_but_the_proxy_rows(grade_case):
    run = grade_case(STAGE, "raw-prefix")
    failed = {test["name"] for test in run.failed()}
    assert failed and all("behind a proxy" in name for name in failed), failed


def test_a_correct_alternative_passes(grade_case):
    """The guard wraps the mounted MCP app instead of checking a prefix."""
    run = grade_case(STAGE, "alt-guard-the-mount")
    assert run.returncode == 0, run.stdout
    assert run.report["score"] == run.report["max_score"]
