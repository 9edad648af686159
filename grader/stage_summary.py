"""One stage's checks as one line of a grade: what the platforms show a student.

The grader's --json lists every check (about 270 for the whole course, each with its full
output): right for the instructor's report, too much for a student's grade page and far too
much for an environment variable. Gradescope, GitHub Classroom and the class grader's
feedback files show one entry per stage instead: its points, and the checks that failed
themselves, each with the first lines of what came back.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from grader.report import CheckRecord, stage_of  # noqa: F401  (stage_of: the adapters take it from here)
from grader.stages import Stage


def outcome(test: dict) -> str:
    """passed, failed, blocked (an earlier check it needs failed) or not run (grader/report.py)."""
    return CheckRecord.from_json(test).outcome


def title_of(test: dict) -> str:
    return CheckRecord.from_json(test).check


def exact(value: float, step: str = "0.01") -> Decimal:
    """VALUE rounded to STEP in decimal arithmetic: sums of these add up exactly."""
    return (Decimal(str(value)) / Decimal(step)).quantize(Decimal(1), ROUND_HALF_UP) * Decimal(step)


@dataclass
class StageSummary:
    stage: Stage
    tests: list[dict]

    @property
    def score(self) -> Decimal:
        return exact(sum(exact(test.get("score", 0), "0.0001") for test in self.tests))

    @property
    def passed(self) -> bool:
        return bool(self.tests) and all(test.get("status") == "passed" for test in self.tests)

    def own_failures(self) -> list[dict]:
        return [test for test in self.tests if outcome(test) == "failed"]

    def knock_on(self) -> list[dict]:
        return [test for test in self.tests if test.get("status") != "passed" and outcome(test) != "failed"]

    def feedback(self, per_check: int = 600, checks: int = 12) -> str:
        """What a student reads: a count, then each check that failed itself with what came back (cut short)."""
        if not self.tests:
            return "not graded: no check of this stage ran (see the notes above)"
        done = sum(test.get("status") == "passed" for test in self.tests)
        lines = [f"{done}/{len(self.tests)} checks pass"]
        own = self.own_failures()
        for test in own[:checks]:
            lines += ["", f"FAILED {title_of(test)}", shorten(str(test.get("output") or ""), per_check)]
        if len(own) > checks:
            lines += ["", f"... and {len(own) - checks} more failed checks: grade this stage locally to see them all"]
        blocked = self.knock_on()
        if blocked:
            lines += ["", f"{len(blocked)} more not passed: blocked by the failures above, or not run"]
        return "\n".join(lines).strip()

    def message(self, limit: int = 300) -> str:
        """One short line: the count and the names of the first checks that failed themselves."""
        if not self.tests:
            return "not graded: no check of this stage ran"
        done = sum(test.get("status") == "passed" for test in self.tests)
        names = [title_of(test) for test in self.own_failures()]
        text = f"{done}/{len(self.tests)} checks pass" + (f"; failed: {'; '.join(names)}" if names else "")
        return shorten(text, limit)


def shorten(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def by_stage(report: dict, stages: list[Stage]) -> list[StageSummary]:
    tests = [test for test in report.get("tests", []) if isinstance(test, dict)]
    return [StageSummary(stage, [test for test in tests if stage_of(test) == stage.id]) for stage in stages]


def grader_notes(report: dict, stages: list[Stage]) -> list[dict]:
    """Entries that belong to no stage: the grader's own failure, a note about the submission."""
    ids = {stage.id for stage in stages}
    return [test for test in report.get("tests", []) if isinstance(test, dict) and stage_of(test) not in ids]
