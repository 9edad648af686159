"""The room: each student's latest verdict per stage, where they are, and the class's pass rates.

Everything here runs on the server's event loop (the endpoints are async and never wait while they
change it), so it needs no lock. Memory is bounded: one verdict per student and stage, the latest.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from grader.stages import load_stages

from dashboard.summary import VerdictSummary

STAGE_ORDER = [stage.id for stage in load_stages()]


@dataclass
class Seat:
    student: str
    verdicts: dict[str, VerdictSummary] = field(default_factory=dict)
    current: str | None = None  # the first stage, in course order, whose latest verdict does not pass
    since: float = 0.0  # when the student reached CURRENT
    last: float = 0.0
    first_report: float = 0.0
    reports: int = 0

    def passed(self, stage: str) -> bool:
        verdict = self.verdicts.get(stage)
        return verdict is not None and all(check.outcome == "passed" for check in verdict.checks)

    def take(self, verdict: VerdictSummary, at: float) -> None:
        self.verdicts[verdict.stage] = verdict
        self.reports, self.last = self.reports + 1, at
        self.first_report = self.first_report or at
        current = next((stage for stage in STAGE_ORDER if not self.passed(stage)), None)
        if current != self.current or not self.since:
            self.current, self.since = current, at

    def row(self) -> dict:
        """What the page shows of the student: plain data, put into the page as text."""
        verdict = self.verdicts.get(self.current) if self.current else None
        failing = first_failing(verdict) if verdict else None
        hints = verdict.hints if verdict else {}
        done = sum(check.outcome == "passed" for check in verdict.checks) if verdict else 0
        return {"student": self.student, "stage": self.current or "all passed", "since": self.since,
                "last": self.last, "first_failing": failing or "", "checks": f"{done}/{len(verdict.checks)}"
                if verdict else "not graded yet", "hints": sum(hints.values()),
                "hint_topics": ", ".join(f"{topic} {level}" for topic, level in hints.items() if level),
                "stages_passed": sum(self.passed(stage) for stage in STAGE_ORDER)}


def first_failing(verdict: VerdictSummary) -> str | None:
    """The root cause: the first check that failed itself, else the first that did not pass (blocked, not run)."""
    failing = [check for check in verdict.checks if check.outcome != "passed"]
    chosen = next((check for check in failing if check.outcome == "failed"), failing[0] if failing else None)
    return chosen.check if chosen else None


class Roster:
    def __init__(self, clock=time.time) -> None:
        self.seats: dict[str, Seat] = {}
        self.clock = clock

    def record(self, student: str, verdict: VerdictSummary) -> Seat:
        seat = self.seats.setdefault(student, Seat(student))
        seat.take(verdict, self.clock())
        return seat

    def heat(self) -> list[dict]:
        """Per stage, in course order: how many students' latest verdict passes it, and per check the same."""
        stages = []
        for stage in STAGE_ORDER:
            graded = [seat.verdicts[stage] for seat in self.seats.values() if stage in seat.verdicts]
            if not graded:
                continue
            checks: dict[str, list[int]] = {}  # name -> [passed, seen], in the order the checks run
            for verdict in graded:
                # A student counts once per check: the same name sent 50 times is one vote, not fifty
                # (it passes when every copy does).
                own: dict[str, bool] = {}
                for check in verdict.checks:
                    own[check.check] = own.get(check.check, True) and check.outcome == "passed"
                for name, passes in own.items():
                    counts = checks.setdefault(name, [0, 0])
                    counts[0] += passes
                    counts[1] += 1
            passed = sum(all(check.outcome == "passed" for check in verdict.checks) for verdict in graded)
            stages.append({"stage": stage, "passed": passed, "graded": len(graded),
                           "checks": [{"check": name, "passed": ok, "seen": seen}
                                      for name, (ok, seen) in checks.items()]})
        return stages

    def snapshot(self) -> dict:
        return {"now": self.clock(), "students": [seat.row() for seat in sorted(self.seats.values(),
                                                                                 key=lambda seat: seat.student)],
                "heat": self.heat()}
