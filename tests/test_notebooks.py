"""Every stage has an instructor notebook, and each one still shows its point when run headless, twice."""

import os
import re

import pytest

from grader.stages import load_stages
from course.notebooks import NOTEBOOKS, execute

STAGES = [stage.id for stage in load_stages()]
# What each notebook must print (stages.toml's notebook_shows): the attack's harm on the broken server, the
# refusal on the solution.
MUST_SHOW = {stage.id: stage.notebook_shows for stage in load_stages()}

# A whole stage 05 key, secret and all: no notebook may print one.
FULL_KEY = re.compile(r"mcpk_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}")


# What a key from course.demo.new_key() looks like (secrets.token_urlsafe(32)): none may be printed.
A_KEY = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])")


def test_every_stage_has_a_notebook_and_every_notebook_a_stage():
    assert sorted(path.stem for path in NOTEBOOKS.glob("*.ipynb")) == sorted(STAGES)
    assert all(MUST_SHOW[stage] for stage in STAGES), "a stage's notebook_shows in stages.toml is empty"


def test_notebooks_are_stored_without_outputs():
    import nbformat

    for path in NOTEBOOKS.glob("*.ipynb"):
        book = nbformat.read(path, as_version=4)
        assert all(not cell.get("outputs") for cell in book.cells if cell.cell_type == "code"), path.name


def test_every_code_cell_is_introduced_by_a_markdown_cell():
    import nbformat

    for path in NOTEBOOKS.glob("*.ipynb"):
        cells = nbformat.read(path, as_version=4).cells
        for previous, cell in zip([None, *cells], cells):
            if cell.cell_type == "code":
                assert previous is not None and previous.cell_type == "markdown" and previous.source.strip(), \
                    f"{path.name}: no note on what to watch for before {cell.source[:60]!r}"


@pytest.mark.parametrize("stage", STAGES)
def test_the_notebook_runs_twice_in_one_kernel_offline_and_shows_its_point(stage, monkeypatch, tmp_path):
    # An instructor's Jupyter may well have an OpenAI key in its environment: the notebooks must stay offline.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake-key-the-notebooks-must-not-use")
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the kernel's temporary files land here, to be counted
    book, printed = execute(NOTEBOOKS / f"{stage}.ipynb", passes=2)
    for run, text in enumerate(printed, 1):
        missing = [wanted for wanted in MUST_SHOW[stage] if wanted not in text]
        assert not missing, f"run {run} of {stage}.ipynb did not show {missing}; it printed:\n{text}"
        assert not A_KEY.findall(text), f"run {run} of {stage}.ipynb printed what looks like a key: {A_KEY.findall(text)}"
        assert "sk-fake-key" not in text
        assert not FULL_KEY.search(text), f"run {run} of {stage}.ipynb printed a whole key (stage 05's format)"
    assert "all servers stopped" in printed[-1]
    left = sorted(path.name for path in tmp_path.glob("workshop-variant-*"))
    assert not left, f"{stage}.ipynb left its broken copies of the solution behind: {left}"


def test_a_demo_variant_is_removed_by_stop_all_and_at_exit(tmp_path):
    import subprocess
    import sys

    script = ("from course import demo; made = demo.variant('01-middleware', 'auth.py', {'import': 'import'}); "
              "print(made); ENDING")
    for ending in ("demo.stop_all()", "pass"):  # a notebook that reaches its last cell, and one shut down before
        done = subprocess.run([sys.executable, "-c", script.replace("ENDING", ending)], capture_output=True, text=True,
                              timeout=60, env={**os.environ, "TMPDIR": str(tmp_path)})
        assert done.returncode == 0, done.stderr
        made = done.stdout.splitlines()[0]
        assert made.startswith(str(tmp_path)) and not os.path.exists(made), done.stdout
    assert not list(tmp_path.glob("workshop-variant-*"))


def test_notebooks_build_their_servers_from_the_solutions_never_from_the_exercises():
    # An instructor may have solved exercises/ in this checkout: a "before" server built from it would be guarded.
    import nbformat

    for path in NOTEBOOKS.glob("*.ipynb"):
        code = "\n".join(cell.source for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code")
        assert "exercises" not in code, f"{path.name} uses exercises/"


def test_the_demo_helpers_hide_a_key_and_its_near_misses(capsys):
    from course import demo

    key = demo.new_key()
    shown = demo.hide(f"X-API-Key: {key}; almost: {key[:-1]}; session_id=0123456789abcdef0123456789abcdef")
    assert key not in shown and key[:-1] not in shown, shown
    assert "<the key>" in shown and "<part of the key>" in shown
    assert "session_id=0123456789abcdef0123456789abcdef" in shown  # other long values stay readable
