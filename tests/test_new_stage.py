"""`make new-stage` adds a stage that everything picks up, writing nothing shared but stages.toml (and the tables made from it)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from grader.stages import ROOT

NAME = "07-demo-lab"
GENERATED = {"README.md", "lessons/README.md"}  # the stage tables, written again from stages.toml


def run(command: list[str], cwd: Path, **options) -> subprocess.CompletedProcess:
    # The clone's own packages first (the .venv points at this checkout), for every process it starts.
    env = {**os.environ, "PYTHONPATH": str(cwd), "NO_COLOR": "1"}
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, **options)


@pytest.fixture(scope="module")
def scaffolded(tmp_path_factory) -> Path:
    clone = tmp_path_factory.mktemp("new-stage") / "repo"
    subprocess.run(["git", "clone", "-q", "--local", str(ROOT), str(clone)], check=True, timeout=120)
    made = run(["make", "-s", "new-stage", f"NAME={NAME}", "FROM=04"], clone)
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
    solutions = run([sys.executable, "-m", "grader", "07", "--workdir", "solutions"], scaffolded)
    assert solutions.returncode == 0, solutions.stdout[-3000:]
    starters = run([sys.executable, "-m", "grader", "07", "--workdir", "exercises"], scaffolded)
    assert starters.returncode == 1 and "Score: 0/" in starters.stdout, starters.stdout[-3000:]


def test_the_projects_tests_pick_it_up(scaffolded):
    """The tests that go through every stage list the new one, and it passes them (its notebook runs headless too)."""
    tests = run([sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:randomly", "tests/test_layout.py",
                 "tests/test_lessons_teach.py", "tests/test_notebooks.py", "-k", f"{NAME} or every or tables or quote"],
                scaffolded)
    assert tests.returncode == 0 and f"[{NAME}]" in run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-n", "0", "tests/test_notebooks.py"],
        scaffolded).stdout, tests.stdout[-3000:]


def test_it_refuses_a_name_that_is_taken_or_malformed(scaffolded):
    for name in ("04-again", "7-x", "07-Demo"):
        refused = run([sys.executable, "-m", "course.new_stage", name, "--from", "04"], scaffolded)
        assert refused.returncode != 0 and "exists already" in refused.stderr + refused.stdout \
            or "is not a stage name" in refused.stderr + refused.stdout, refused.stderr
