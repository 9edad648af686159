"""`make test` in a checkout whose exercises/ a student has solved: the project's tests read the committed
starters (git HEAD), not the student's working copy, so they pass there as they pass here."""

import os
import shutil
import subprocess
import sys

from grader.stages import SOLUTIONS
from tests.conftest import repository_copy

# The tests that read the starters and run in seconds (the grader's own runs on the starters read them the
# same way, through tests.conftest.committed_exercises).
READ_THE_STARTERS = ["tests/test_layout.py", "tests/test_lessons_teach.py",
                     "tests/test_class_platforms.py::test_a_gradescope_submission_is_found_in_any_usual_layout"]


def test_the_tests_that_read_the_starters_pass_in_a_checkout_whose_exercises_are_solved(tmp_path):
    checkout = repository_copy(tmp_path / "checkout")
    shutil.rmtree(checkout / "exercises")  # the student's work, every stage solved and not committed
    shutil.copytree(SOLUTIONS, checkout / "exercises", ignore=shutil.ignore_patterns("__pycache__", "*.md"))
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider",
                           *READ_THE_STARTERS], cwd=checkout, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(checkout)})
    assert done.returncode == 0 and " passed" in done.stdout, done.stdout[-6000:] + done.stderr[-2000:]
