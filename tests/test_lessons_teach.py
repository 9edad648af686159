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
import io
import keyword
import re
import tokenize
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


# The OWASP MCP Top 10 as the project's own page names it (OWASP/www-project-mcp-top-10, tab_top10.md, 2025 list).
OWASP_MCP_TOP_10 = {
    "MCP01": "Token Mismanagement & Secret Exposure", "MCP02": "Privilege Escalation via Scope Creep",
    "MCP03": "Tool Poisoning", "MCP04": "Software Supply Chain Attacks & Dependency Tampering",
    "MCP05": "Command Injection & Execution", "MCP06": "Intent Flow Subversion",
    "MCP07": "Insufficient Authentication & Authorization", "MCP08": "Lack of Audit and Telemetry",
    "MCP09": "Shadow MCP Servers", "MCP10": "Context Injection & Over-Sharing",
}


def test_lesson_00_names_each_owasp_item_as_owasp_does_and_credits_the_stages_that_teach_it():
    text = (ROOT / "lessons" / "00-threat-model" / "README.md").read_text()
    rows = {match[1]: match for match in re.finditer(r"^\| (MCP\d\d) ([^|]+?) \| ([^|]+) \|", text, re.M)}
    assert {code: row[2] for code, row in rows.items()} == OWASP_MCP_TOP_10
    # Stages 05 and 06 teach per-key rights, scopes and audit logs: no "beyond" or "not here" for those.
    for code in ("MCP02", "MCP08"):
        assert "not here" not in rows[code][3] and "beyond" not in rows[code][0], rows[code][0]
    assert "worth nothing" not in text  # a session id with another valid key is worth something (stage 05)
    assert "State handle hijacking" in text and "Session hijacking |" not in text


# -- TODO comments in the starters say what and why, never the line ------------------------------------

# Share of an answer line's specific names and literals a TODO comment may repeat before it gives the line away.
MOST_A_TODO_MAY_NAME = 0.6


def specific_atoms(line: str) -> list[str]:
    """The names and literals of a line of code that point at one answer: identifiers with a capital,
    an underscore or a digit (`HEADERS`, `mcp_app`, `compare_digest`) and string literals (`"headers"`);
    plain lower-case words (`path`, `root`, `tool`) are what prose says anyway."""
    atoms = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(line).readline):
            if token.type == tokenize.NAME and not keyword.iskeyword(token.string) and re.search(r"[A-Z_0-9]", token.string):
                atoms.append(token.string)
            elif token.type == tokenize.STRING:
                inner = re.sub(r"^[bfrBFR]*(['\"]+)(.*?)\1$", r"\2", token.string)
                if len(inner) >= 2:
                    atoms.append(inner)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return list(dict.fromkeys(atoms))


def todo_comments(path: Path) -> list[str]:
    """Each TODO comment of a file, with the comment lines that continue it, as one text."""
    blocks: list[list[str]] = []
    current: list[str] | None = None
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("# TODO"):
            current = [stripped[1:].strip()]
            blocks.append(current)
        elif stripped.startswith("#") and current is not None:
            current.append(stripped[1:].strip())
        else:
            current = None
    return [" ".join(block) for block in blocks]


def todo_giveaways(stage) -> list[str]:
    found = []
    for name, lines in answer_lines(stage).items():
        for todo in todo_comments(committed_exercises() / stage.id / name):
            for line in lines:
                atoms = specific_atoms(line)
                named = [atom for atom in atoms if re.search(rf"(?<!\w){re.escape(atom)}(?!\w)", todo)]
                if len(atoms) >= 2 and len(named) / len(atoms) >= MOST_A_TODO_MAY_NAME:
                    found.append(f"{name}: the TODO {todo[:90]!r} names {named} of the answer line {line!r}")
    return found


@pytest.mark.parametrize("stage", STAGES, ids=lambda stage: stage.id)
def test_no_starter_todo_spells_out_the_line_it_asks_for(stage):
    giveaways = todo_giveaways(stage)
    assert not giveaways, "\n".join(giveaways)


def test_the_todo_check_catches_a_todo_that_spells_out_its_line():
    lines = ['app = FastAPI(middleware=[Middleware(ApiKeyMiddleware)])', '"headers": HEADERS,']
    assert all(len(specific_atoms(line)) >= 2 for line in lines)
    todo = '# TODO: register ApiKeyMiddleware: pass middleware=[Middleware(...)] to FastAPI(); add a "headers" entry with HEADERS'
    named = [[atom for atom in specific_atoms(line) if atom in todo] for line in lines]
    assert named == [["FastAPI", "Middleware", "ApiKeyMiddleware"], ["headers", "HEADERS"]]
