"""The grader judges stage 05 submissions right: each known mistake fails, and for its reason."""

STAGE = "05-key-management"
IN_CLEAR = "no key (nor its secret) is in the database file"
NEW_PEPPER = "the server started again with another KEY_PEPPER refuses every key issued before"
REVOKED_ROW = "a revoked key is refused with 401"
REVOKED_LIVE = "a key revoked with `python -m keys revoke` is refused by the server already running"
TOOL_LISTS = "two keys with different tool rights see different tool lists"
TOOL_CALL = "a key is refused the tool it may not call"
THROTTLED = ["repeated wrong keys from one address get 429", "repeated wrong secrets for one key id"]


def failed_only(run, *titles: str) -> None:
    """Exactly the checks named fail (by the start of their titles); every other check passes."""
    failed = [test["name"].split(": ", 1)[1] for test in run.failed()]
    unexpected = [name for name in failed if not any(name.startswith(title) for title in titles)]
    assert not unexpected, f"these checks failed too: {unexpected}\n{run.stdout}"
    for title in titles:
        assert run.check(title)["status"] == "failed", f"{title!r} did not fail:\n{run.stdout}"


def test_a_key_stored_in_clear_is_found_in_the_database(grade_case):
    run = grade_case(STAGE, "secret-in-clear")
    # A key kept in clear does not depend on the pepper either, and is compared at its own length, not a digest's.
    failed_only(run, IN_CLEAR, NEW_PEPPER, SAME_WORK)
    output = run.check(IN_CLEAR)["output"]
    assert "the database" in output and "holds the key" in output, output


def test_a_revoked_key_that_still_gets_in_is_caught(grade_case):
    run = grade_case(STAGE, "revoked-accepted")
    failed_only(run, REVOKED_ROW, REVOKED_LIVE)
    assert "200" in run.check(REVOKED_ROW)["output"], run.check(REVOKED_ROW)["output"]


def test_a_guard_that_caches_keys_misses_a_revocation_while_running(grade_case):
    run = grade_case(STAGE, "revocation-cached")
    failed_only(run, REVOKED_LIVE, SUCCESSOR)  # a cached key also outlives its rotation
    output = run.check(REVOKED_LIVE)["output"]
    assert "before the revocation it got 200" in output and "got:      200" in output, output


def test_rights_checked_on_call_but_not_on_list_fail_the_tool_list_check(grade_case):
    run = grade_case(STAGE, "rights-on-call-only")
    failed_only(run, TOOL_LISTS, PIECES_OF_NAMES, SUCCESSOR)  # an unfiltered list shows every tool to each
    assert "get_alerts" in run.check(TOOL_LISTS)["output"], run.check(TOOL_LISTS)["output"]


def test_rights_checked_on_list_but_not_on_call_fail_the_tool_call_check(grade_case):
    run = grade_case(STAGE, "rights-on-list-only")
    failed_only(run, TOOL_CALL, PIECES_OF_NAMES)  # a call nobody checks runs for a piece of its name too
    output = run.check(TOOL_CALL)["output"]
    assert "ok:" in output and "Wind Advisory" in output, output  # the tool ran for a key without the right


def test_a_429_without_retry_after_is_caught(grade_case):
    run = grade_case(STAGE, "throttle-without-retry-after")
    failed_only(run, *THROTTLED)
    for title in THROTTLED:
        output = run.check(title)["output"]
        assert "no Retry-After header" in output and "429" in output, output


def test_a_correct_alternative_passes(grade_case):
    """Digests stored as hex text, compared with secrets.compare_digest."""
    run = grade_case(STAGE, "alt-hex-digests")
    assert run.returncode == 0, run.stdout
    assert run.report["score"] == run.report["max_score"]


def test_a_failure_limit_keyed_on_x_forwarded_for_is_caught(grade_case):
    """The grader sends each guess from one real loopback address with a new forged X-Forwarded-For."""
    run = grade_case(STAGE, "limiter-keyed-on-x-forwarded-for")
    failed_only(run, THROTTLED[0])
    output = run.check(THROTTLED[0])["output"]
    assert "X-Forwarded-For" in output and "401" in output and "429" in output, output


def test_a_hex_digest_compared_with_bytes_crashes_and_the_hint_says_why(grade_case):
    run = grade_case(STAGE, "hexdigest-against-bytes")
    output = run.check("a well-formed key that was never issued")["output"]
    assert "500" in output and "raw bytes, not hex text" not in output and "an exception escaped" in output, output


def test_valid_keys_throttled_show_the_throttle_hint_first(grade_case):
    """Sessions that fail because a valid key gets 429 say so, not 'tools/list shows a key tools it may not call'."""
    run = grade_case(STAGE, "throttles-valid-keys")
    first = run.failed()[0]
    assert "429" in first["output"] and "must not lock a valid key out" in first["output"], first["output"]

NO_PEPPER = "without KEY_PEPPER the server refuses to start"
STATUS_TOLD = "a revoked or expired key id with a wrong secret gets exactly the answer of a key never issued"
PIECES_OF_NAMES = "a key whose rights are pieces of real tool names"


def test_a_digest_without_the_pepper_is_caught_by_a_restart_with_another_pepper(grade_case):
    run = grade_case(STAGE, "digest-ignores-pepper")
    failed_only(run, NEW_PEPPER)
    output = run.check(NEW_PEPPER)["output"]
    assert "200" in output and "another KEY_PEPPER" in output, output


def test_a_default_pepper_when_key_pepper_is_unset_is_caught(grade_case):
    run = grade_case(STAGE, "default-pepper")
    failed_only(run, NO_PEPPER)
    output = run.check(NO_PEPPER)["output"]
    assert "KEY_PEPPER unset" in output and "<a key>" in output, output


def test_a_status_told_before_the_secret_is_checked_is_caught(grade_case):
    run = grade_case(STAGE, "status-before-secret")
    failed_only(run, STATUS_TOLD)
    output = run.check(STATUS_TOLD)["output"]
    assert "revoked" in output and "Invalid API key" in output, output


def test_rights_matched_by_prefix_are_caught(grade_case):
    run = grade_case(STAGE, "rights-by-prefix")
    failed_only(run, PIECES_OF_NAMES)
    output = run.check(PIECES_OF_NAMES)["output"]
    assert "ok:" in output, output  # a tool ran for a key holding only a piece of its name


def test_a_failure_limit_keyed_on_the_user_agent_is_caught(grade_case):
    """Each guess comes from one real address with a new value in every header a client chooses."""
    run = grade_case(STAGE, "limiter-keyed-on-user-agent")
    failed_only(run, THROTTLED[0])
    output = run.check(THROTTLED[0])["output"]
    assert "User-Agent" in output and "401" in output and "429" in output, output


CONSTANT_TIME = "the key is compared in constant time"


def test_digests_compared_with_an_operator_are_caught(grade_case):
    run = grade_case(STAGE, "digests-compared-with-eq")
    failed_only(run, CONSTANT_TIME, SAME_WORK)  # no compare_digest on either path: not the same comparison either
    output = run.check(CONSTANT_TIME)["output"]
    assert "!= bytes(stored)" in output and "no compare_digest call" in output, output


ROTATE_REFUSED = "`python -m keys rotate` refuses a revoked key and a key rotated once already"
SUCCESSOR = "a rotated key's successor sees only the old key's tools"
SESSION_OWNER = "a session opened with one key is not found (404) for another valid key"


def test_a_revoked_key_rotated_back_to_life_is_caught(grade_case):
    run = grade_case(STAGE, "rotate-revoked-or-twice")
    failed_only(run, ROTATE_REFUSED)
    output = run.check(ROTATE_REFUSED)["output"]
    assert "a revoked key" in output and "<a new key>" in output, output


def test_a_successor_with_wider_rights_and_no_expiry_is_caught(grade_case):
    run = grade_case(STAGE, "rotate-successor-wider")
    failed_only(run, SUCCESSOR)
    output = run.check(SUCCESSOR)["output"]
    assert "get_forecast" in output, output  # the successor of a get_alerts key sees every tool


def test_a_session_usable_with_another_key_is_caught(grade_case):
    run = grade_case(STAGE, "session-not-bound")
    failed_only(run, SESSION_OWNER)
    output = run.check(SESSION_OWNER)["output"]
    assert "404" in output and "200" in output, output


def test_a_key_in_the_audit_log_takes_the_stages_points(grade_case):
    run = grade_case(STAGE, "key-in-audit-log")
    failed_only(run, IN_CLEAR)
    assert "the audit log holds the key" in run.check(IN_CLEAR)["output"], run.stdout
    assert run.report["score"] == 0, run.stdout


AUDITED = "refusals with no key id (no header, a malformed key, two headers) are in the audit log"


def test_refusals_left_out_of_the_audit_log_are_caught(grade_case):
    run = grade_case(STAGE, "audit-every-throttled-request")
    failed_only(run, AUDITED)
    output = run.check(AUDITED)["output"]
    assert "0 new audit line(s)" in output, output


SAME_WORK = "an unknown key id costs the work of a known id with a wrong secret"


def test_an_unknown_key_id_refused_without_hashing_the_key_is_caught(grade_case):
    run = grade_case(STAGE, "unknown-id-skips-digest")
    failed_only(run, SAME_WORK)
    output = run.check(SAME_WORK)["output"]
    assert "(b) no hashing; compare_digest on bytes of 32 vs bytes of 32" in output and "hint:" in output, output


def test_a_stand_in_shorter_than_a_digest_is_caught(grade_case):
    run = grade_case(STAGE, "unknown-id-short-stand-in")
    failed_only(run, SAME_WORK)
    output = run.check(SAME_WORK)["output"]
    assert "bytes of 32 vs bytes of 16" in output, output


def test_an_unknown_id_hashed_before_the_lookup_against_a_stand_in_made_per_call_passes(grade_case):
    """The key hashed before the lookup; the stand-in a SHA-256 made per call; secrets.compare_digest."""
    run = grade_case(STAGE, "alt-unknown-id-stand-in-per-call")
    assert run.returncode == 0, run.stdout
    assert run.report["score"] == run.report["max_score"]


def test_a_failure_limit_keyed_on_the_whole_key_is_caught(grade_case):
    """Each guess for one key id carries another secret: a count per presented key never reaches the limit."""
    run = grade_case(STAGE, "limiter-keyed-on-the-whole-key")
    failed_only(run, THROTTLED[1])
    output = run.check(THROTTLED[1])["output"]
    assert "a new wrong secret" in output and "401" in output and "429" in output, output


def test_keys_written_in_clear_to_another_file_are_caught(grade_case):
    """The CLI writes each key to a file of its own choosing beside the database: every written file is read."""
    run = grade_case(STAGE, "issued-keys-in-a-file")
    failed_only(run, IN_CLEAR)
    output = run.check(IN_CLEAR)["output"]
    assert "recovery-" in output and "holds the key" in output, output
    assert run.report["score"] == 0, run.stdout


OWN_EXPIRY = "a key rotated before its own expiry still ends at its own expiry"


def test_a_rotation_that_extends_the_old_keys_life_is_caught(grade_case):
    run = grade_case(STAGE, "rotate-extends-expiry")
    failed_only(run, OWN_EXPIRY)
    output = run.check(OWN_EXPIRY)["output"]
    assert "200" in output and "401" in output, output


def test_a_session_bound_to_the_client_name_is_caught(grade_case):
    """Two keys of one client: a session bound to the client's name answers both."""
    run = grade_case(STAGE, "session-bound-to-client")
    failed_only(run, SESSION_OWNER)
    output = run.check(SESSION_OWNER)["output"]
    assert "the same client" in output and "404" in output and "200" in output, output


STREAM_ENDS = "a GET stream opened with a key ends soon after that key is revoked"


def test_a_stream_that_outlives_its_revoked_key_is_caught(grade_case):
    run = grade_case(STAGE, "stream-outlives-its-key")
    failed_only(run, STREAM_ENDS)
    output = run.check(STREAM_ENDS)["output"]
    assert "still open" in output, output
