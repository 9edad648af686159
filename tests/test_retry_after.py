"""Retry-After is judged as RFC 9110 section 10.2.3 allows it: seconds or an HTTP-date, never in the past."""

import email.utils

import pytest

from grader.checks.test_05_key_management import retry_after_says_later

NOW = 1_800_000_000.4


@pytest.mark.parametrize("value", ["1", "30", " 60 ", email.utils.formatdate(NOW + 30, usegmt=True),
                                   email.utils.formatdate(NOW + 1, usegmt=True),
                                   "Fri, 15 Jan 2027 08:00:00 GMT"])
def test_a_retry_after_that_says_later_passes(value):
    assert retry_after_says_later(value, NOW)


@pytest.mark.parametrize("value", ["", "0", "-5", "1.5", "soon", email.utils.formatdate(NOW - 60, usegmt=True),
                                   "Fri, 15 Jan 2027 08:00:00"])
def test_a_retry_after_that_is_missing_past_or_malformed_fails(value):
    assert not retry_after_says_later(value, NOW)
