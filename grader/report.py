"""One model of a grading run, and its one wire form: Gradescope's results.json.

The grader writes it (`--json`); the terminal printer, the student's loop, the class
grader, its report and the platform adapters read it back through `Report.from_json`,
never by parsing printed text. Each check is a `CheckRecord`: its stage, its title, what
happened, its points, and for a failure what was sent, what came back, what was expected
and the hint. The fields travel in each test's `extra_data`; `name` and `output` are
Gradescope's own, for people.

A report may come from a student's machine or a platform: `from_json` takes what it is
given with its types checked, and turns anything else into an empty field.
"""

from __future__ import annotations

from dataclasses import dataclass, field

OUTCOMES = ("passed", "failed", "blocked", "not run")


def _text(value) -> str:
    return value if isinstance(value, str) else ""


def _number(value) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


@dataclass(frozen=True)
class CheckRecord:
    """One check of one stage, as graded; stage "" is the grader's own note (its failure, a notice)."""

    stage: str
    check: str
    outcome: str  # passed | failed | blocked (an earlier check it needs failed) | not run
    score: float = 0.0
    max_score: float = 0.0
    scored: bool = True  # False: the untouched starter passes it too, so it is worth nothing itself
    output: str = ""  # what a person reads: the failure's fields, a log's tail, why it did not run
    sent: str = ""
    got: str = ""
    expected: str = ""
    hint: str = ""
    hint_topic: str = ""
    warning: str = ""  # passed, but something outside the student's code kept part of it from running

    @property
    def passed(self) -> bool:
        return self.outcome == "passed"

    @property
    def name(self) -> str:
        return f"{self.stage}: {self.check}" if self.stage else self.check

    def to_json(self) -> dict:
        extra = {"stage": self.stage, "check": self.check, "outcome": self.outcome, "scored": self.scored}
        extra.update({name: value for name, value in (("sent", self.sent), ("got", self.got),
                                                      ("expected", self.expected), ("hint", self.hint),
                                                      ("hint_topic", self.hint_topic), ("warning", self.warning))
                      if value})
        return {"name": self.name, "score": round(self.score, 4), "max_score": round(self.max_score, 4),
                "status": "passed" if self.passed else "failed", "output": self.output, "extra_data": extra}

    @classmethod
    def from_json(cls, test: dict) -> "CheckRecord":
        extra = test.get("extra_data") if isinstance(test.get("extra_data"), dict) else {}
        status = "passed" if test.get("status") == "passed" else "failed"
        outcome = extra.get("outcome") if extra.get("outcome") in OUTCOMES else status
        return cls(stage=_text(extra.get("stage")), check=_text(extra.get("check")) or _text(test.get("name")),
                   outcome=outcome, score=_number(test.get("score")), max_score=_number(test.get("max_score")),
                   scored=extra.get("scored") is not False, output=_text(test.get("output")),
                   sent=_text(extra.get("sent")), got=_text(extra.get("got")), expected=_text(extra.get("expected")),
                   hint=_text(extra.get("hint")), hint_topic=_text(extra.get("hint_topic")),
                   warning=_text(extra.get("warning")))


@dataclass
class Report:
    """A run: every check in order, and the grader's own notes."""

    checks: list[CheckRecord] = field(default_factory=list)

    @property
    def score(self) -> float:
        return round(sum(check.score for check in self.checks), 2)

    @property
    def max_score(self) -> float:
        return round(sum(check.max_score for check in self.checks), 2)

    def of_stage(self, stage_id: str) -> list[CheckRecord]:
        return [check for check in self.checks if check.stage == stage_id]

    def notes(self) -> list[CheckRecord]:
        return [check for check in self.checks if not check.stage]

    def stages(self) -> list[str]:
        """The stages graded, in the order their checks came."""
        return list(dict.fromkeys(check.stage for check in self.checks if check.stage))

    def to_json(self) -> dict:
        tests = [check.to_json() for check in self.checks]
        return {"score": round(sum(test["score"] for test in tests), 2),
                "max_score": round(sum(test["max_score"] for test in tests), 2), "tests": tests}

    @classmethod
    def from_json(cls, data) -> "Report":
        tests = data.get("tests") if isinstance(data, dict) else None
        return cls([CheckRecord.from_json(test) for test in tests or [] if isinstance(test, dict)])


def stage_of(test: dict) -> str:
    """The stage of one test entry of a results.json ("" for the grader's own notes)."""
    return CheckRecord.from_json(test).stage
