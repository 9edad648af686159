"""The grader judges stage 06 submissions right: each known mistake fails, and for its reason."""

from tests.conftest import committed_exercises, grade

STAGE = "06-bearer-tokens"
TOKEN = "POST /mcp with "


def failed(run, title: str, *words: str) -> dict:
    check = run.check(title)
    assert check["status"] == "failed", run.stdout
    for word in words:
        assert word in check["output"], check["output"]
    return check


def passed(run, title: str) -> None:
    check = run.check(title)
    assert check["status"] == "passed", check["output"]


def test_a_verifier_that_does_not_check_the_audience_lets_a_siblings_token_in(grade_case):
    run = grade_case(STAGE, "audience-not-checked")
    failed(run, TOKEN + "a token for a sibling resource", "200 OK", "audience")
    failed(run, TOKEN + "a token for the whole origin", "200 OK")
    failed(run, TOKEN + "a token without an audience", "200 OK")
    failed(run, "a stateless 2026-07-28 tools/call whoami with a token for a sibling resource", "200 OK")
    passed(run, TOKEN + "an expired token")  # the other checks still work


def test_a_verifier_that_lets_the_header_choose_the_algorithm_is_caught(grade_case):
    run = grade_case(STAGE, "algorithm-not-pinned")
    failed(run, TOKEN + "RS512 signed with the right key", "200 OK", "algorithm")
    # PyJWT refuses the public key as an HMAC secret, with a TypeError: the unpinned verifier crashes (500).
    failed(run, TOKEN + "HS256 signed with the server's public key", "500")
    passed(run, TOKEN + "a valid token: answered like the reference")


def test_a_verifier_that_ignores_expiry_is_caught(grade_case):
    run = grade_case(STAGE, "expiry-ignored")
    failed(run, TOKEN + "an expired token", "200 OK", "exp")
    failed(run, TOKEN + "a token without exp")  # let in (200), or a crash on the missing claim (500)
    failed(run, "the 401 for an expired token")
    failed(run, "a stateless 2026-07-28 tools/call whoami with an expired token", "200 OK")
    passed(run, TOKEN + "a token not valid for another 5 minutes")  # nbf is still checked


def test_hiding_tools_from_tools_list_does_not_pass_for_a_scope_check(grade_case):
    run = grade_case(STAGE, "scope-on-tools-list-only")
    for era in ("in a session (2025-06-18)", "in one request (2026-07-28)"):
        failed(run, f"tools/call get_forecast with a token that lacks forecast:read, {era}", "insufficient_scope")
    passed(run, "a token without weather:read at all")


def test_a_token_taken_from_the_query_string_is_caught(grade_case):
    run = grade_case(STAGE, "token-from-query")
    check = failed(run, TOKEN + "a valid token in the query string", "200 OK", "URL")
    assert "access_token=<a valid token>" in check["output"]  # the report never shows the token itself
    passed(run, TOKEN + "no Authorization header")


def test_forwarding_the_token_upstream_is_caught(grade_case):
    run = grade_case(STAGE, "token-passthrough")
    failed(run, "the weather API upstream never receives the client's token", "<the client's token>", "passthrough")
    # A failed check that the starter passes is worth nothing itself, but costs its share of every point.
    assert 0 < run.report["score"] < run.report["max_score"]


def test_the_sdks_own_challenge_is_caught(grade_case):
    """error="invalid_token" without a token, and no scope: what RequireAuthMiddleware sends."""
    run = grade_case(STAGE, "sdk-challenge")
    failed(run, "the 401 without a token", "though no token was sent", "scope=None")
    failed(run, "the 401 for an expired token", "scope=None")
    passed(run, TOKEN + "an expired token")


def test_a_correct_alternative_challenge_passes(grade_case):
    run = grade_case(STAGE, "alt-challenge-order")
    assert run.returncode == 0, run.stdout
    assert run.report["score"] == run.report["max_score"]


def test_every_scored_check_fails_on_the_starter_and_every_unscored_one_passes(tmp_path):
    run = grade(committed_exercises(), STAGE, tmp_path=tmp_path)
    tests = [test for test in run.report["tests"] if test["name"].startswith(STAGE + ":")]
    scored = [test["name"] for test in tests if test["max_score"] > 0]
    assert len(scored) >= 15, run.stdout
    scored_passed = [name for name in scored if run.statuses()[name] == "passed"]
    assert scored_passed == [], run.explain(scored_passed)
    unscored_not_passed = [test["name"] for test in tests if test["max_score"] == 0 and test["status"] != "passed"]
    assert unscored_not_passed == [], run.explain(unscored_not_passed)
    assert run.report["score"] == 0


def test_a_client_that_puts_the_token_in_the_url_is_caught(grade_case):
    run = grade_case(STAGE, "client-token-in-url")
    failed(run, "client.py sends Authorization: Bearer", "exit status 1")
    failed(run, "the client prints no token, and never puts one in a URL", "access log")
    assert run.report["score"] == 0  # a token in a URL is a leak: the stage's points go with it


def test_a_verifier_that_ignores_typ_lets_an_id_token_in_and_is_caught(grade_case):
    run = grade_case(STAGE, "typ-not-checked")
    failed(run, TOKEN + 'a JWT not marked as an access token (typ "JWT"', "200 OK", "at+jwt")
    failed(run, TOKEN + "a JWT with no typ at all", "200 OK")
    passed(run, TOKEN + "a valid token: answered like the reference")


def test_a_challenge_that_echoes_the_tool_name_unquoted_is_caught(grade_case):
    run = grade_case(STAGE, "tool-name-in-challenge")
    check = failed(run, "tools/call of a tool with quotes and parameters in its name",
                   "the SDK client reads resource_metadata='https://evil.grader.invalid")
    assert "tool name" in check["output"], check["output"]  # the hint says whose text it was
    failed(run, "tools/call of a tool with non-ASCII and a line break in its name")
    passed(run, "the 401 without a token")  # the challenge itself is still right


def test_an_audience_matched_as_a_substring_lets_a_siblings_token_in_and_is_caught(grade_case):
    run = grade_case(STAGE, "audience-by-pattern")
    failed(run, TOKEN + "a token whose audience extends this one", "200 OK", "audience")
    failed(run, TOKEN + "a token for a resource under this one", "200 OK")
    failed(run, TOKEN + "a token for another server whose URL contains this one", "200 OK")
    passed(run, TOKEN + "a token for the whole origin")  # the origin does not contain /mcp: this pattern refuses it


def test_an_issuer_matched_by_prefix_is_caught(grade_case):
    run = grade_case(STAGE, "issuer-by-prefix")
    failed(run, TOKEN + "a token from an issuer whose host starts with the trusted one", "200 OK", "iss")
    failed(run, TOKEN + "a token from an issuer under the trusted one", "200 OK")
    passed(run, TOKEN + "a token from another issuer:")


def test_a_key_embedded_in_the_token_is_caught(grade_case):
    run = grade_case(STAGE, "key-from-the-token")
    failed(run, TOKEN + "a stranger's token with its own key in the header (jwk), under an unknown kid", "200 OK",
           "jwk")
    passed(run, TOKEN + "a token signed by an unknown key (under the trusted kid)")


def test_a_token_taken_from_a_cookie_is_caught(grade_case):
    run = grade_case(STAGE, "token-from-cookie")
    failed(run, TOKEN + "a valid token in cookies and other headers", "200 OK", "Authorization header only")
    assert run.report["score"] < run.report["max_score"]  # an unscored row the starter passes still costs points


def test_the_first_of_two_authorization_headers_is_caught(grade_case):
    run = grade_case(STAGE, "first-of-two-authorization")
    failed(run, TOKEN + "two Authorization headers, the first a valid token", "200 OK")
    passed(run, TOKEN + "two Authorization headers, the second a valid token")  # the first is garbage: refused
    assert run.report["score"] < run.report["max_score"]


def test_scopes_matched_as_substrings_are_caught(grade_case):
    run = grade_case(STAGE, "scope-by-substring")
    failed(run, "tools/call get_forecast with a token whose scopes only contain forecast:read", "200", "whole word")
    failed(run, "initialize with a token whose scopes only contain weather:read", "200")
    passed(run, "tools/call get_forecast with a token that lacks forecast:read, in a session")


def test_a_scope_check_skipped_by_content_type_parameters_is_caught(grade_case):
    run = grade_case(STAGE, "scope-check-by-content-type")
    failed(run, "tools/call get_forecast without forecast:read, Content-Type with parameters (", "200", "charset")
    failed(run, "tools/call get_forecast without forecast:read, Content-Type with parameters, in one 2026", "200")
    passed(run, "tools/call get_forecast without forecast:read, Mcp-Name: whoami in a 2025-06-18 session")


def test_a_tool_name_taken_from_the_mcp_name_header_is_caught(grade_case):
    run = grade_case(STAGE, "tool-from-mcp-name")
    failed(run, "tools/call get_forecast without forecast:read, Mcp-Name: whoami in a 2025-06-18 session", "200",
           "Mcp-Name")
    # In a 2026-07-28 request the SDK refuses the mismatch itself (400), but not the reference's 403.
    failed(run, "tools/call get_forecast without forecast:read, Mcp-Name: whoami in a 2026-07-28 request", "400")
    passed(run, "tools/call get_forecast without forecast:read, Content-Type with parameters (")


def test_a_resource_url_built_from_the_host_header_is_caught(grade_case):
    run = grade_case(STAGE, "resource-from-host-header")
    failed(run, TOKEN + "a token for the other name this server answers to", "200 OK", "Host")
    passed(run, TOKEN + "a valid token:")


def test_a_certificate_carried_or_named_by_the_token_is_caught(grade_case):
    run = grade_case(STAGE, "certificate-from-the-token")
    failed(run, TOKEN + "a stranger's token carrying its own certificate (x5c), under an unknown kid", "200 OK",
           "x5c")
    failed(run, TOKEN + "a stranger's token naming a certificate URL of its own (x5u), under an unknown kid",
           "200 OK", "x5u")
    passed(run, TOKEN + "a stranger's token with its own key in the header (jwk), under an unknown kid")


def test_times_written_as_strings_are_caught_by_their_type_alone(grade_case):
    """Each time is valid as a number (exp minutes ahead, nbf and iat past): only the type check refuses it."""
    run = grade_case(STAGE, "times-as-strings")
    for claim in ("exp", "nbf", "iat"):
        failed(run, TOKEN + f"a token whose {claim} is a string", "200 OK", "NumericDate")
    passed(run, TOKEN + "a token valid for a century")  # the lifetime ceiling still holds
    assert run.report["score"] < run.report["max_score"]


def test_an_audience_path_compared_without_case_is_caught(grade_case):
    run = grade_case(STAGE, "audience-path-case")
    failed(run, TOKEN + "a token whose audience differs in the case of its path", "200 OK", "/MCP")
    failed(run, TOKEN + "a token whose audience has the scheme and host in capitals and its path in another case",
           "200 OK")
    passed(run, TOKEN + "a token whose audience adds a trailing slash")  # this mistake keeps the slash apart
    passed(run, TOKEN + "a token for a sibling resource")


def test_a_typ_that_merely_ends_in_jwt_is_caught(grade_case):
    run = grade_case(STAGE, "typ-suffix")
    failed(run, TOKEN + "a JWT of another type that also ends in +jwt", "200 OK", "at+jwt")
    passed(run, TOKEN + 'a JWT not marked as an access token (typ "JWT"')  # JWT does not end in +jwt


def test_a_refused_token_in_the_log_is_caught(grade_case):
    """The grader's log handler wraps long lines: the token reaches the log in pieces, and counts all the same."""
    run = grade_case(STAGE, "logs-refused-token")
    check = failed(run, "no token the grader sent, accepted or refused, appears in the server's output",
                   "not even one you refuse")
    assert "eyJ" not in check["output"] or "***" in check["output"], check["output"]  # shown hidden
    assert run.report["score"] == 0  # a leak is a gate: the stage's points go with it


def test_a_get_stream_that_outlives_its_token_is_caught(grade_case):
    run = grade_case(STAGE, "stream-outlives-token")
    failed(run, "a GET /mcp event stream ends once the token that opened it is no longer valid", "still open",
           "after the token's exp", "leeway")
    assert run.report["score"] < run.report["max_score"]


def test_keys_from_a_url_cached_for_ever_are_caught(grade_case):
    """The grader serves the issuer's key set at JWKS_URL to a second server and withdraws a key."""
    run = grade_case(STAGE, "jwks-cache-forever")
    failed(run, "with JWKS_URL, a key the issuer withdraws from its key set is refused", "200 OK",
           "the withdrawn key still opens the server", "JWKS_CACHE_SECONDS")
    passed(run, TOKEN + "a valid token:")
    assert run.report["score"] < run.report["max_score"]
