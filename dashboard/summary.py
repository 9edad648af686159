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

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from grader.report import OUTCOMES
from grader.stages import load_stages

MAX_BODY = 64 * 1024  # bytes: 200 checks with long names fit many times over
STAGE_IDS = frozenset(stage.id for stage in load_stages())

# Printable text only, bounded: what a check's title or a hint topic looks like.
CheckName = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]
Topic = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")]


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
