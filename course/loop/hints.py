"""Hints that escalate: a nudge, where to look, how. The grader shows level 1; each ask shows one more.

stages.toml holds them per stage and topic, as one string (one level) or a list of up to three:

    [stage.hints]
    register = ["a nudge", "where to look", "how"]
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass

from grader.stages import STAGES_FILE, Stage

from course.loop.grading import Check

NAMES = ["a nudge", "where to look", "how"]


def hint_table(stage: Stage) -> dict[str, list[str]]:
    """Every topic's levels, read from stages.toml itself (so a level is never lost on the way)."""
    with STAGES_FILE.open("rb") as handle:
        entries = tomllib.load(handle).get("stage", [])
    raw = next((entry.get("hints", {}) for entry in entries if entry.get("id") == stage.id), stage.hints)
    return {topic: [value] if isinstance(value, str) else list(value) for topic, value in raw.items()}


@dataclass
class HintLevels:
    topic: str | None  # None: the grader's hint is not one of stages.toml's (nothing more to give)
    levels: list[str]

    def name(self, level: int) -> str:
        return NAMES[level - 1] if len(self.levels) > 1 and level <= len(NAMES) else "hint"


def levels_for(stage: Stage, check: Check) -> HintLevels:
    table = hint_table(stage)
    if check.hint_topic in table:
        return HintLevels(check.hint_topic, table[check.hint_topic])
    # Until the report names the topic, find it from the text the grader showed (level 1).
    shown = " ".join(check.hint.split())
    if shown:
        for topic, levels in table.items():
            if any(" ".join(level.split()) == shown for level in levels):
                return HintLevels(topic, levels)
        for topic, levels in table.items():
            if " ".join(levels[0].split()) in shown:
                return HintLevels(topic, levels)
        return HintLevels(None, [check.hint])
    return HintLevels(None, [])
