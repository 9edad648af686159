"""One student's grading, as the class grader keeps it and the report reads it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Graded:
    """One student's grading: the Gradescope-style report and how it went."""

    student: str
    report: dict
    seconds: float
    note: str = ""  # why the report is not the grader's own (time limit, crash)
    stages: dict[str, float] = field(default_factory=dict)

    @property
    def score(self) -> float:
        return self.report.get("score", 0)

    @property
    def max_score(self) -> float:
        return self.report.get("max_score", 0)

    def failed(self) -> list[dict]:
        return [test for test in self.report.get("tests", []) if test.get("status") != "passed"]
