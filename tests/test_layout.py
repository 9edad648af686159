"""The repository keeps its promises: one stage list, matching folders, starters that differ only by TODOs."""

import difflib
import subprocess
import sys

import pytest

from grader.stages import ROOT, SOLUTIONS, load_stages
from course import lessons
from tests.conftest import committed_exercises

STAGES = load_stages()


def files_of(folder):
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*")
                  if path.is_file() and "__pycache__" not in path.parts)


@pytest.mark.parametrize("stage", STAGES, ids=lambda stage: stage.id)
def test_every_stage_has_a_lesson_a_starter_a_solution_and_checks(stage):
    assert stage.lesson.is_file(), stage.lesson
    assert (committed_exercises() / stage.id).is_dir() and (SOLUTIONS / stage.id).is_dir()
    assert stage.checks_file.is_file(), stage.checks_file
    assert set(stage.todo) <= set(stage.files)
    assert stage.client in stage.files


@pytest.mark.parametrize("stage", STAGES, ids=lambda stage: stage.id)
def test_starter_and_solution_hold_exactly_the_stage_files(stage):
    assert files_of(committed_exercises() / stage.id) == files_of(SOLUTIONS / stage.id) == sorted(stage.files)


@pytest.mark.parametrize("stage", STAGES, ids=lambda stage: stage.id)
def test_a_starter_differs_from_its_solution_only_where_a_todo_says_so(stage):
    for name in stage.files:
        starter = (committed_exercises() / stage.id / name).read_text().splitlines()
        solution = (SOLUTIONS / stage.id / name).read_text().splitlines()
        hunks = [group for group in difflib.SequenceMatcher(None, solution, starter).get_grouped_opcodes(0)]
        if name not in stage.todo:
            assert not hunks, f"{stage.id}/{name} is not a TODO file but differs from the solution"
            continue
        assert hunks, f"{stage.id}/{name} is listed as a TODO file but equals the solution"
        for group in hunks:
            changed = [line for tag, _, _, j1, j2 in group if tag != "equal" for line in starter[j1:j2]]
            assert any("TODO" in line for line in changed), \
                f"{stage.id}/{name}: a change without a TODO: {changed or '(lines removed)'}"


def test_stage_ids_are_ordered_and_unique():
    ids = [stage.id for stage in STAGES]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert [stage.number for stage in STAGES] == [f"{n:02d}" for n in range(1, len(STAGES) + 1)]


def test_points_and_hints_are_given_for_every_stage():
    for stage in STAGES:
        assert stage.points > 0 and {"imports", "starts"} <= set(stage.hints), stage.id


def test_the_lessons_quote_the_solutions_as_they_are():
    assert lessons.main(["--check"]) == 0


def test_the_lesson_check_notices_a_drifted_block(tmp_path, monkeypatch):
    lesson = tmp_path / "01" / "README.md"
    lesson.parent.mkdir()
    source = (STAGES[0].lesson).read_text()
    lesson.write_text(source.replace("return shopping_list.get_items()", "return []  # changed in the prose only", 1))
    monkeypatch.setattr(lessons, "LESSONS", tmp_path)
    assert lessons.main(["--check"]) == 1


def test_every_lesson_quotes_at_least_one_solution_block():
    for stage in STAGES:
        assert f"<!-- code: solutions/{stage.id}/" in stage.lesson.read_text(), stage.id


def test_the_grader_lists_the_stages_from_the_data_file():
    listed = subprocess.run([sys.executable, "-m", "grader", "--list"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout
    assert [line.split()[0] for line in listed.splitlines()] == [stage.id for stage in STAGES]


def test_an_unknown_stage_is_a_usage_error():
    done = subprocess.run([sys.executable, "-m", "grader", "99-nope"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2 and "01-middleware" in done.stderr


@pytest.mark.parametrize("stage", STAGES, ids=lambda stage: stage.id)
def test_every_hint_a_check_asks_for_is_in_the_stage_list(stage):
    import re

    source = stage.checks_file.read_text()
    for helper in re.findall(r"from grader\.checks\.(\w+) import", source):
        source += (stage.checks_file.parent / f"{helper}.py").read_text()
    asked = set(re.findall(r'hint\("(\w+)"\)', source)) | set(re.findall(r'hint_in="(\w+)"', source))
    asked |= {name for mapping in re.findall(r"\{([^{}]*)\}\.get\(row\.note", source)
              for name in re.findall(r':\s*"(\w+)"', mapping)}
    assert asked, "no hints found: the pattern above no longer matches the checks"
    assert asked <= set(stage.hints), f"{stage.id} asks for hints stages.toml lacks: {asked - set(stage.hints)}"


@pytest.mark.parametrize("name", ["shopping_list.py", "mcp_server.py"])
def test_files_no_stage_changes_are_the_same_in_every_stage(name):
    """Each stage folder is self-contained (students run uvicorn inside it), so some files repeat: they must not drift."""
    copies = {str(path): path.read_text() for root in (committed_exercises(), SOLUTIONS)
              for path in sorted(root.glob(f"*/{name}"))}
    assert len(copies) >= 2 and len(set(copies.values())) == 1, f"{name} differs between {list(copies)}"


def test_the_stage_tables_are_written_from_stages_toml(tmp_path, monkeypatch):
    """A stage's words live in stages.toml; README.md and lessons/README.md show them (a new stage appears by itself)."""
    from grader import stages as stage_data

    toml = (ROOT / "stages.toml").read_text().replace('learn = "a middleware that guards the whole app',
                                                      'learn = "CHANGED a middleware that guards the whole app', 1)
    changed = tmp_path / "stages.toml"
    changed.write_text(toml)
    monkeypatch.setattr(stage_data, "STAGES_FILE", changed)
    monkeypatch.setattr(stage_data.load_stages, "__defaults__", (changed,))
    assert "| `01-middleware` | CHANGED a middleware" in lessons.stage_table("readme")
    assert lessons.main(["--check"]) == 1  # the README no longer matches what stages.toml says
    map_ = lessons.stage_table("map")
    assert map_.count("-->") == len(STAGES) and "S6[06 bearer tokens, scopes]" in map_, map_
