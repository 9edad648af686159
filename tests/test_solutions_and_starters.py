"""Every solution earns full marks and every starter fails, through the real CLI."""

import json
import subprocess
import sys

import pytest

from grader.stages import ROOT, load_stages

STAGES = [stage.id for stage in load_stages()]


@pytest.fixture
def solutions_run(solutions_graded):
    return solutions_graded  # graded once for the session (tests/conftest.py): other modules read it too


@pytest.fixture
def starters_run(starters_graded):
    return starters_graded


def test_the_solutions_pass_every_check(solutions_run):
    assert solutions_run.returncode == 0, solutions_run.explain([test["name"] for test in solutions_run.failed()])
    assert solutions_run.report["score"] == solutions_run.report["max_score"] > 0


@pytest.mark.parametrize("stage", STAGES)
def test_each_solution_is_graded_and_passes(solutions_run, stage):
    mine = [test for test in solutions_run.report["tests"] if test["name"].startswith(stage + ":")]
    assert len(mine) >= 3, f"stage {stage} has too few checks"
    assert [test for test in mine if test["status"] != "passed"] == []


@pytest.mark.parametrize("stage", STAGES)
def test_each_starter_imports_and_starts_but_fails(starters_run, stage):
    mine = {test["name"].split(": ", 1)[1]: test for test in starters_run.report["tests"]
            if test["name"].startswith(stage + ":")}
    assert mine["the code imports"]["status"] == "passed", mine["the code imports"]["output"]
    if "the server starts" in mine:
        assert mine["the server starts"]["status"] == "passed", mine["the server starts"]["output"]
    assert any(test["status"] == "failed" for test in mine.values()), f"the {stage} starter passes as it is"


def test_make_grade_fails_on_the_starters_and_says_where(starters_run):
    assert starters_run.returncode == 1
    assert "01-middleware" in starters_run.stdout and "✘" in starters_run.stdout


def test_one_stage_with_json_report_scores_full_marks(tmp_path):
    out = tmp_path / "out.json"
    completed = subprocess.run([sys.executable, "-m", "grader", "01-middleware", "--workdir", "solutions",
                                "--json", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stdout
    report = json.loads(out.read_text())
    assert report["score"] == report["max_score"] == 20
    assert {"name", "score", "max_score", "status", "output"} <= set(report["tests"][0])


def test_the_untouched_starters_score_nothing(starters_run):
    assert starters_run.report["score"] == 0, starters_run.stdout
    assert starters_run.report["max_score"] == sum(stage.points for stage in load_stages())


def test_every_check_that_carries_points_is_failed_by_the_untouched_starter(starters_run):
    """Points go only to the work a stage asks for: a check the starter passes must be marked unscored."""
    passed_by_the_starter = [test["name"] for test in starters_run.report["tests"]
                             if test["max_score"] > 0 and test["extra_data"]["outcome"] == "passed"]
    assert passed_by_the_starter == [], "mark these @pytest.mark.unscored:\n" + "\n".join(passed_by_the_starter)


def test_each_stage_spreads_exactly_its_points(solutions_run):
    for stage in load_stages():
        mine = [test for test in solutions_run.report["tests"] if test["name"].startswith(stage.id + ":")]
        assert abs(sum(test["max_score"] for test in mine) - stage.points) < 0.01, stage.id
