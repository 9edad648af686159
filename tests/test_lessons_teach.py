"""Lessons and first hints teach the idea; they never hand out the lines a TODO asks for.

For every stage, the "answer lines" are the lines of the reference solution that
differ from the starter (difflib over each file the student edits), without comments,
lines the starter already shows, and lines too short to give anything away
(`return key`, `else:`, a closing bracket). No lesson README and no level-1 hint may contain one of them.
The walkthroughs (solutions/<stage>.md) may: a student reads them after the
stage passes.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import pytest

from grader.stages import ROOT, SOLUTIONS, load_stages
from tests.conftest import committed_exercises

STAGES = load_stages()
LESSONS = sorted((ROOT / "lessons").glob("*/README.md")) + [ROOT / "lessons" / "README.md"]

# Lines that say nothing about the answer on their own: `return key`, `if not key:`,
# `"status": 401,`, `await send({`, a closing bracket. Anything longer counts.
SHORTEST_ANSWER = 17


def squeeze(text: str) -> str:
    """Whitespace runs as one space, so indentation and line breaks in a lesson do not hide a copy."""
    return re.sub(r"\s+", " ", text).strip()


def answer_lines(stage) -> dict[str, list[str]]:
    """file name -> the solution's lines that the starter lacks, as written in the solution."""
    found: dict[str, list[str]] = {}
    for name in stage.files:
        starter = (committed_exercises() / stage.id / name).read_text().splitlines()
        solution = (SOLUTIONS / stage.id / name).read_text().splitlines()
        added = []
        matcher = difflib.SequenceMatcher(a=starter, b=solution, autojunk=False)
        for tag, _, _, first, last in matcher.get_opcodes():
            if tag in ("replace", "insert"):
                added += solution[first:last]
        given = squeeze("\n".join(starter))  # text the starter already shows is no giveaway
        lines = [squeeze(line) for line in added]
        lines = [line for line in lines
                 if len(line) >= SHORTEST_ANSWER and not line.startswith("#") and line not in given]
        if lines:
            found[name] = lines
    return found


def first_level_hints(stage) -> dict[str, str]:
    return {topic: (text[0] if isinstance(text, (list, tuple)) else text) for topic, text in stage.hints.items()}


def copies(text: str, lines: list[str]) -> list[str]:
    flat = squeeze(text)
    return [line for line in lines if line in flat]


@pytest.mark.parametrize("stage", STAGES, ids=lambda stage: stage.id)
def test_the_solution_differs_from_the_starter_so_there_is_something_to_hide(stage):
    assert answer_lines(stage), f"{stage.id}: the solution adds no line to the starter"


@pytest.mark.parametrize("stage", STAGES, ids=lambda stage: stage.id)
def test_no_lesson_quotes_a_line_the_stage_asks_the_student_to_write(stage):
    lines = [line for per_file in answer_lines(stage).values() for line in per_file]
    quoted = {str(lesson.relative_to(ROOT)): found for lesson in LESSONS if (found := copies(lesson.read_text(), lines))}
    assert not quoted, f"{stage.id}: these lessons give away the answer to a TODO:\n" + "\n".join(
        f"  {lesson}: {line!r}" for lesson, found in quoted.items() for line in found)


@pytest.mark.parametrize("stage", STAGES, ids=lambda stage: stage.id)
def test_no_first_level_hint_quotes_a_line_of_the_answer(stage):
    lines = [line for per_file in answer_lines(stage).values() for line in per_file]
    given = {topic: found for topic, hint in first_level_hints(stage).items() if (found := copies(hint, lines))}
    assert not given, f"{stage.id}: these level-1 hints give away the answer: {given}"


def test_the_comparison_catches_a_copied_line():
    # The guard of this test: a lesson that pastes one answer line, re-indented, is caught.
    stage = next(stage for stage in STAGES if stage.id.startswith("04"))
    line = answer_lines(stage)["secure_weather_server.py"][-1]
    pasted = "Your task:\n\n```python\n    " + line.replace(" ", "  ") + "\n```\n"
    assert copies(pasted, [line]) == [line]


def test_every_stage_links_its_walkthrough_and_the_walkthrough_exists():
    for stage in STAGES:
        walkthrough = SOLUTIONS / f"{stage.id}.md"
        assert walkthrough.is_file(), f"no walkthrough for {stage.id} at {walkthrough.relative_to(ROOT)}"
        lesson = (ROOT / "lessons" / stage.id / "README.md").read_text()
        assert f"solutions/{stage.id}.md" in lesson, f"lesson {stage.id} does not link its walkthrough"
