"""Judge a student's answer by what the reference solution answers to the same request.

Comparing with a live reference (instead of hard-coded statuses) keeps the grader
honest when the SDK changes: whatever the MCP app answers with the key, the
student's server must answer too, and wherever the reference refuses, the
student's server must refuse the same way.
"""

from __future__ import annotations

from collections.abc import Callable

from grader.probes import Answer, Probe, tail
from grader.redaction import redact, secret_slices, shows  # noqa: F401  (re-exported)
from grader.verdict import CheckFailed


CRASH_HINT = "The server crashed on this request: the traceback in its log (above) names the line."


# Answers the router gives before any handler runs: nothing was reached, nothing ran.
NOT_REACHED = {307, 308, 404, 405}
# The same, where the request would reach the guard: a 405 there comes from the app behind a guard that let
# the method through (an OPTIONS pass-through), so only the guard's own 401 counts as a refusal.
NOT_REACHED_BEHIND_THE_GUARD = {307, 308, 404}


def expect_no_secret(probe: Probe, got: Answer, secret: str, hint: str) -> None:
    """Fail when the answer's headers or body hold the key or any 8-character slice of it."""
    for name, value in [*got.headers.items(), ("body", got.body + got.first_event)]:
        if shows(value, secret):
            where = "its body" if name == "body" else f"its {name} header"
            raise CheckFailed(sent=probe.describe(), got=redact(got.describe(), secret) + f" (the key, or part of "
                              f"it, is in {where})", expected="an answer that holds no part of the key", hint=hint)


def expect_like_reference(probe: Probe, got: Answer, reference: Answer, *,
                          let_in_hint: str, keep_out_hint: str, crash_hint: str = CRASH_HINT,
                          log: str = "", allow_refusal_of_404: bool = True,
                          reference_with_key: Callable[[], Answer] | None = None, challenge_hint: str | None = None,
                          secret: str | None = None, leak_hint: str = "",
                          not_reached: set[int] = NOT_REACHED) -> None:
    """Fail unless GOT answers PROBE the way REFERENCE does.

    - the reference refuses (401): the student must refuse with 401 and WWW-Authenticate,
      or answer what the reference answers *with* the key when that is a router's
      "not here" (a redirect, 404, 405): a guard placed on the mounted app itself
      never sees such requests, and they reach nothing;
    - the reference answers 404 (nothing there): a 401 is just as safe;
    - otherwise the status must be the same (the request got through to the same place).
    """
    if secret:
        expect_no_secret(probe, got, secret, leak_hint or "Never echo the key, or any part of it, in an answer.")
    if reference.status == 401:
        if got.status == 401 and got.challenge:
            return
        # Asked only when it can matter: a request per row saved on every refusal.
        if (reference_with_key is not None and got.status in not_reached
                and got.status == reference_with_key().status):
            return
        if got.status == 401:
            hint = challenge_hint or "A 401 must carry a WWW-Authenticate header that names the scheme (RFC 9110)."
        elif got.status == 403:
            hint = ("403 Forbidden means 'I know who you are, and you may not'. A missing or wrong key "
                    "is 401 Unauthorized, with a WWW-Authenticate header.")
        elif got.status >= 500:
            hint = ("The server crashed on this request. A common cause: hmac.compare_digest(str, str) "
                    "raises TypeError on non-ASCII text; compare bytes instead.")
        else:
            hint = keep_out_hint
        raise CheckFailed(sent=probe.describe(), got=got.describe(),
                          expected="401 Unauthorized with a WWW-Authenticate header (the reference refuses it)",
                          hint=hint)
    if reference.status == 404 and allow_refusal_of_404 and got.status in (401, 404):
        return
    if got.status != reference.status:
        hint = let_in_hint if got.status == 401 else crash_hint if got.status >= 500 else keep_out_hint
        shown = got.describe() + (f"\nthe server's log ends:\n{tail(log, 12)}" if got.status >= 500 and log else "")
        raise CheckFailed(sent=probe.describe(), got=shown,
                          expected=f"{reference.describe()} (as the reference solution answers)", hint=hint)
