"""What a student sends after each grading, and nothing else: the model every report is validated against.

    {"stage": "01-middleware",
     "checks": [{"check": "GET / without a key is refused", "outcome": "failed", "score": 0, "max_score": 1.5}],
     "hints": {"register": 2}}

Stage, check names, outcomes (grader/report.py's), points and hint levels: never code, never output,
never what a check sent or got (those can hold a key). Unknown fields are refused, so a client that
starts sending more is told so instead of silently stored. "student" may be given and must then be the
key's own student (app.py): the identity is the key's, never the body's.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from grader.report import OUTCOMES
from grader.stages import load_stages

MAX_BODY = 64 * 1024  # bytes: 200 checks with long names fit many times over
STAGE_POINTS = {stage.id: stage.points for stage in load_stages()}
STAGE_IDS = frozenset(STAGE_POINTS)

# Printable text only, bounded: what a check's title or a hint topic looks like. Not printable either: C1
# controls, zero-width characters, line and paragraph separators, and the marks that turn text around
# (U+202E shows "\u202eevil" as "live"): a name that reads as another, or two cells that look the same.
PRINTABLE = r"^[^\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]+$"
CheckName = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=PRINTABLE)]
Topic = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=PRINTABLE)]


class CheckSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    check: CheckName
    outcome: Literal[OUTCOMES]
    score: float = Field(0.0, ge=0, le=1000)
    max_score: float = Field(0.0, ge=0, le=1000)


class VerdictSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stage: str
    checks: list[CheckSummary] = Field(min_length=1, max_length=200)
    hints: dict[Topic, Annotated[int, Field(ge=0, le=3)]] = Field(default_factory=dict, max_length=50)
    student: str | None = Field(None, max_length=64)

    @field_validator("stage")
    @classmethod
    def a_stage_of_the_course(cls, value: str) -> str:
        if value not in STAGE_IDS:
            raise ValueError("not a stage of stages.toml")
        return value

    @model_validator(mode="after")
    def no_more_points_than_the_stage_has(self) -> VerdictSummary:
        # The gradebook adds up these points: a check scores at most its max_score, and the checks of a stage
        # share its points (stages.toml), as the grader spreads them. Rounding aside, never more.
        if any(check.score > check.max_score + 1e-9 for check in self.checks):
            raise ValueError("a check scores at most its max_score")
        if sum(check.max_score for check in self.checks) > STAGE_POINTS[self.stage] + 1e-6:
            raise ValueError("the checks' max_score add up to more than the stage's points")
        return self
