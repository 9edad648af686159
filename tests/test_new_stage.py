"""`make new-stage` adds a stage that everything picks up, writing nothing shared but stages.toml (and the tables made from it)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from grader.stages import ROOT

NAME = "08-demo-lab"
GENERATED = {"README.md", "lessons/README.md"}  # the stage tables, written again from stages.toml


def run(command: list[str], cwd: Path, **options) -> subprocess.CompletedProcess:
    # The clone's own packages first (the .venv points at this checkout), for every process it starts.
    env = {**os.environ, "PYTHONPATH": str(cwd), "NO_COLOR": "1"}
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, **options)


@pytest.fixture(scope="module")
def scaffolded(tmp_path_factory) -> Path:
    clone = tmp_path_factory.mktemp("new-stage") / "repo"
    subprocess.run(["git", "clone", "-q", "--local", str(ROOT), str(clone)], check=True, timeout=120)
    # What `make new-stage` runs, without its setup step (that would build a second .venv in the clone).
    planned = run(["make", "-n", "new-stage", f"NAME={NAME}", "FROM=04"], clone).stdout
    assert f"-m course.new_stage {NAME} --from 04" in planned, planned
    made = run([sys.executable, "-m", "course.new_stage", NAME, "--from", "04"], clone)
    assert made.returncode == 0, made.stdout + made.stderr
    return clone


def test_it_touches_no_shared_file_but_stages_toml_and_the_tables_made_from_it(scaffolded):
    status = run(["git", "status", "--porcelain", "--untracked-files=all"], scaffolded).stdout.splitlines()
    changed = {line[3:] for line in status if line.startswith(" M")}
    added = {line[3:] for line in status if line.startswith("??")}
    assert changed == {"stages.toml"} | GENERATED, status
    own = (f"exercises/{NAME}/", f"solutions/{NAME}/", f"lessons/{NAME}/", f"solutions/{NAME}.md",
           f"notebooks/{NAME}.ipynb", f"grader/checks/test_{NAME.replace('-', '_')}.py")
    assert added and all(path.startswith(own) for path in added), sorted(added)
    tables = run(["git", "diff", "--unified=0", "--", *GENERATED], scaffolded).stdout
    assert f"[{NAME}]({NAME}/README.md)" in tables and f"| `{NAME}` |" in tables, tables


def test_the_grader_grades_it_at_once_solution_full_marks_starter_nothing(scaffolded):
    solutions = run([sys.executable, "-m", "grader", "08", "--workdir", "solutions"], scaffolded)
    assert solutions.returncode == 0, solutions.stdout[-3000:]
    starters = run([sys.executable, "-m", "grader", "08", "--workdir", "exercises"], scaffolded)
    assert starters.returncode == 1 and "Score: 0/" in starters.stdout, starters.stdout[-3000:]


def test_the_projects_tests_pick_it_up(scaffolded):
    """The tests that go through every stage list the new one, and its layout and lesson pass them."""
    tests = run([sys.executable, "-m", "pytest", "-q", "-n", "0", "tests/test_layout.py", "tests/test_lessons_teach.py",
                 "-k", NAME], scaffolded)
    assert tests.returncode == 0 and " passed" in tests.stdout, tests.stdout[-3000:]
    listed = run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-n", "0", "tests/test_notebooks.py",
                  "tests/test_solutions_and_starters.py", "tests/test_hint_commands.py"], scaffolded).stdout
    assert f"test_notebooks.py::test_the_notebook_runs_twice_in_one_kernel_offline_and_shows_its_point[{NAME}]" in listed
    assert listed.count(NAME) >= 3, listed


def test_it_refuses_a_name_that_is_taken_or_malformed(scaffolded):
    for name, why in (("04-again", "exists already"), (NAME, "exists already"), ("7-x", "is not a stage name"),
                      ("08-Demo", "is not a stage name")):
        refused = run([sys.executable, "-m", "course.new_stage", name, "--from", "04"], scaffolded)
        assert refused.returncode != 0 and why in refused.stderr, (name, refused.stderr)
