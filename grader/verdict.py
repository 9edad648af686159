"""What a failed check tells the student: the request, the answer, the expectation, a hint."""

from __future__ import annotations

import pytest


class CheckFailed(AssertionError):
    def __init__(self, *, sent: str, got: str, expected: str, hint: str = "") -> None:
        self.sent, self.got, self.expected, self.hint = sent, got, expected, hint
        super().__init__(str(self))

    def __str__(self) -> str:
        lines = [f"sent:     {self.sent}", f"got:      {self.got}", f"expected: {self.expected}"]
        if self.hint:
            lines.append(f"hint:     {self.hint}")
        return "\n".join(lines)


def check(condition: bool, *, sent: str, got: str, expected: str, hint: str = "") -> None:
    if not condition:
        raise CheckFailed(sent=sent, got=got, expected=expected, hint=hint)


def blocked_by(earlier: str, detail: str = "") -> None:
    """Skip a check because an earlier link of the chain broke; the report shows it as not passed."""
    pytest.skip(f"skipped: {earlier}" + (f"\n{detail}" if detail else ""))


def not_run(reason: str) -> None:
    """End a check that cannot run for a reason outside the student's code (a port another program
    holds): it passes with a warning that names the reason, and never fails the student's verdict.
    Use it only where what it would have observed is observed another way, or costs no points."""
    pytest.skip(f"{WARNING}{reason}")


# The skip reason of not_run(): the session records such a check as passed, with this warning.
WARNING = "warning: "
