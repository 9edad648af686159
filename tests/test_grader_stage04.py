"""The grader judges stage 04 submissions right: each known mistake fails, and for its reason."""

STAGE = "04-pure-asgi"
KEYLESS = "started with an empty API_KEY"


def test_a_middleware_that_drops_the_lifespan_breaks_the_mcp_session(grade_case):
    run = grade_case(STAGE, "lifespan-dropped")
    session = run.check("an MCP client with the key")
    assert session["status"] == "failed", run.stdout
    assert "lifespan" in session["output"], session["output"]


def test_comparing_decoded_text_crashes_on_a_non_ascii_key(grade_case):
    run = grade_case(STAGE, "str-compare")
    check = run.check("POST /mcp (a non-ASCII key) is refused")
    assert check["status"] == "failed" and "500" in check["output"], check["output"]
    assert "compare bytes" in check["output"]


def test_sloppy_code_fails_the_timing_message_leak_and_client_checks(grade_case):
    run = grade_case(STAGE, "sloppy")
    timing = run.check("the key is compared in constant time")
    assert timing["status"] == "failed" and "presented[0] != self._key" in timing["output"], timing["output"]
    assert run.check("a 401 says whether the key was missing or invalid")["status"] == "failed"
    leak = run.check("the key never appears in the server's output")
    assert leak["status"] == "failed" and "Starting with API key" in leak["output"], leak["output"]
    client = run.check("client.py sends the key")
    assert client["status"] == "failed" and "401" in client["output"], client["output"]
    # ...while the behaviour those mistakes do not touch still passes.
    assert run.check("POST /mcp (no X-API-Key header) is refused")["status"] == "passed"


def test_a_published_default_key_is_caught(grade_case):
    run = grade_case(STAGE, "default-key")
    keyless = run.check(KEYLESS)
    assert keyless["status"] == "failed" and "published default" in keyless["output"], keyless["output"]


def test_an_empty_key_that_matches_an_empty_header_is_caught(grade_case):
    run = grade_case(STAGE, "empty-key-accepted")
    keyless = run.check(KEYLESS)
    assert keyless["status"] == "failed" and "matches an empty key" in keyless["output"], keyless["output"]


def test_a_correct_alternative_passes(grade_case):
    """Starlette's Headers and secrets.compare_digest."""
    run = grade_case(STAGE, "alt-starlette-headers")
    assert run.returncode == 0, run.stdout
    assert run.report["score"] == run.report["max_score"]
