"""The key is compared in constant time: judged from the source, since one answer cannot show a timing leak."""

from __future__ import annotations

from grader.checks.declared import declared
from grader.static import digest_comparisons, key_comparisons, read
from grader.verdict import blocked_by, check


def test_the_comparison_is_constant_time(request, launch, stage):
    """the key is compared in constant time (hmac.compare_digest), never with ==, in or startswith"""
    if launch.missing:
        blocked_by("there is no submission folder")
    name = declared(request).guarded_file
    try:
        compare = digest_comparisons if declared(request).compares_digests else key_comparisons
        uses_compare_digest, leaks = compare(read(launch.student_dir / name))
    except SyntaxError as error:
        blocked_by(f"{name} does not parse: {error}")
    check(uses_compare_digest and not leaks, sent=f"read {name}",
          got="; ".join((["no compare_digest call"] if not uses_compare_digest else []) + leaks),
          expected="hmac.compare_digest on the key, and no ==, !=, in or startswith between key values",
          hint=stage.hint("compare"))
