"""The platforms a class already uses run this same grader: Gradescope, GitHub Classroom, a dev container."""

import base64
import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
import yaml

from grader.stages import ROOT, SOLUTIONS, load_stages
from tests.conftest import committed_exercises

STAGE = "01-middleware"


def unzip_like_gradescope(archive: Path, source: Path) -> None:
    """Unzip keeping the executable bits, as `unzip` does."""
    with zipfile.ZipFile(archive) as opened:
        for info in opened.infolist():
            path = Path(opened.extract(info, source))
            mode = info.external_attr >> 16
            if mode:
                path.chmod(mode & 0o777)


@pytest.fixture(scope="module")
def autograder(tmp_path_factory):
    out = tmp_path_factory.mktemp("gradescope-zip")
    done = subprocess.run(["make", "--no-print-directory", "gradescope", f"OUT={out}", "STAGES=01"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return out / "gradescope-autograder.zip"


def run_autograder(autograder: Path, root: Path) -> dict:
    """/autograder laid out under ROOT: source/ (the zip), submission/, results/."""
    unzip_like_gradescope(autograder, root / "source")
    done = subprocess.run([str(root / "source" / "run_autograder")], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": sys.executable})
    results = root / "results" / "results.json"
    assert results.exists(), done.stdout + done.stderr
    return json.loads(results.read_text())


def test_the_gradescope_zip_has_the_scripts_at_its_top(autograder):
    with zipfile.ZipFile(autograder) as opened:
        names = set(opened.namelist())
        modes = {info.filename: info.external_attr >> 16 for info in opened.infolist()}
        config = json.loads(opened.read("gradescope.json"))
    assert {"setup.sh", "run_autograder", "stages.toml", "requirements.lock", "grader/cli.py"} <= names
    assert f"solutions/{STAGE}/main.py" in names and not any("__pycache__" in name for name in names)
    assert modes["run_autograder"] & 0o111 and modes["setup.sh"] & 0o111
    assert config == {"stages": [STAGE]}


def test_run_autograder_grades_a_submission_of_loose_files(autograder, tmp_path):
    submission = tmp_path / "submission"
    shutil.copytree(SOLUTIONS / STAGE, submission, ignore=shutil.ignore_patterns("__pycache__"))
    results = run_autograder(autograder, tmp_path)
    assert results["score"] == results["max_score"] == 20, json.dumps(results, indent=2)[:3000]
    assert all(test["status"] == "passed" for test in results["tests"])


@pytest.mark.parametrize("layout", ["exercises/01-middleware", "01-middleware", "01", "."])
def test_a_gradescope_submission_is_found_in_any_usual_layout(tmp_path, layout):
    from grader.gradescope import lay_out
    from grader.stages import stage_by_id

    shutil.copytree(committed_exercises() / STAGE, tmp_path / "submission" / layout,
                    ignore=shutil.ignore_patterns("__pycache__"))
    workdir = tmp_path / "workdir"
    found = lay_out(tmp_path / "submission", [stage_by_id(STAGE)], workdir)
    assert len(found) == 1, found
    assert sorted(path.name for path in (workdir / STAGE).iterdir()) == sorted(stage_by_id(STAGE).files)


def test_run_autograder_explains_an_empty_submission(autograder, tmp_path):
    (tmp_path / "submission").mkdir()
    results = run_autograder(autograder, tmp_path)
    assert results["score"] == 0 and results["max_score"] == 20, results
    assert "No stage folder" in results["output"] and results["tests"][0]["status"] == "failed", results


WORKFLOW = ROOT / ".github" / "workflows" / "classroom.yml"


def workflow_steps() -> list[dict]:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as True
    assert "push" in triggers
    assert workflow["permissions"]["checks"] == "write"
    (job,) = workflow["jobs"].values()
    return job["steps"]


def test_the_classroom_workflow_hands_the_grader_result_to_the_reporter():
    steps = workflow_steps()
    reporter = next(step for step in steps if "autograding-grading-reporter" in step.get("uses", ""))
    runners = [name.strip() for name in reporter["with"]["runners"].split(",")]
    for runner in runners:
        # The reporter reads <RUNNER>_RESULTS (upper case): base64 JSON from that step's `result` output.
        assert reporter["env"][f"{runner.upper()}_RESULTS"].replace(" ", "") == \
            "${{steps.%s.outputs.result}}" % runner, reporter["env"]
        step = next(step for step in steps if step.get("id") == runner)
        assert "-m grader" in step["run"] and "grader.github_classroom" in step["run"], step


def test_the_classroom_grading_step_reports_the_graders_points(tmp_path):
    step = next(step for step in workflow_steps() if step.get("id") == "grader")
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")  # the checkout's .venv, as after `make setup`
    output = tmp_path / "github-output"
    done = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "STAGES": STAGE, "GITHUB_OUTPUT": str(output)})
    assert done.returncode == 0, done.stdout + done.stderr
    name, encoded = output.read_text().strip().split("=", 1)
    assert name == "result"
    result = json.loads(base64.b64decode(encoded))
    report = json.loads((tmp_path / "results.json").read_text())
    assert result["max_score"] == report["max_score"] == 20
    assert sum(test["score"] for test in result["tests"]) == pytest.approx(report["score"], abs=0.01)
    assert result["status"] in ("pass", "fail") and {test["status"] for test in result["tests"]} <= {"pass", "fail"}
    assert result["status"] == ("pass" if report["score"] == 20 else "fail")


def test_the_dev_container_sets_up_the_workshop_and_forwards_every_stage_port():
    container = json.loads((ROOT / ".devcontainer" / "devcontainer.json").read_text())
    assert "python" in container["image"] and any("node" in feature for feature in container["features"])
    assert container["postCreateCommand"] == "make setup"
    stage_ports = {stage.port for stage in load_stages()}
    missing = stage_ports - set(container["forwardPorts"])
    assert not missing, f"add {sorted(missing)} to forwardPorts in .devcontainer/devcontainer.json"
    assert tomllib.loads((ROOT / "stages.toml").read_text())  # the ports came from the real stage list
