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
    """/autograder laid out under ROOT: source/ (the zip), submission/, results/; the script run as Gradescope
    runs it (copied to ROOT, run from ROOT), with the dev .venv standing in for the one setup.sh builds."""
    unzip_like_gradescope(autograder, root / "source")
    (root / "source" / ".venv").symlink_to(ROOT / ".venv")
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")
    done = subprocess.run([str(root / "run_autograder")], cwd=root, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "AUTOGRADER_ROOT": str(root)})
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
    assert config["stages"] == [STAGE] and config["visibility"] == "visible"
    assert len(config["checks"]) > 20 and all(name.startswith(f"{STAGE}: ") for name in config["checks"])


def test_run_autograder_grades_a_submission_of_loose_files_one_test_per_stage(autograder, tmp_path):
    submission = tmp_path / "submission"
    shutil.copytree(SOLUTIONS / STAGE, submission, ignore=shutil.ignore_patterns("__pycache__"))
    results = run_autograder(autograder, tmp_path)
    assert results["score"] == results["max_score"] == 20, json.dumps(results, indent=2)[:3000]
    assert [test["name"] for test in results["tests"]] == [f"{STAGE}: {load_stages()[0].title}"], results
    assert all(test["status"] == "passed" and test["visibility"] == "visible" for test in results["tests"])


@pytest.mark.parametrize("layout", ["exercises/01-middleware", "01-middleware", "01", ".",
                                    "my-repo/exercises/01-middleware"])
def test_a_gradescope_submission_is_found_in_any_usual_layout(tmp_path, layout):
    from classroom.gradescope import lay_out
    from grader.stages import stage_by_id

    shutil.copytree(committed_exercises() / STAGE, tmp_path / "submission" / layout,
                    ignore=shutil.ignore_patterns("__pycache__"))
    workdir = tmp_path / "workdir"
    found = lay_out(tmp_path / "submission", [stage_by_id(STAGE)], workdir)
    assert len(found) == 1, found
    assert sorted(path.name for path in (workdir / STAGE).iterdir()) == sorted(stage_by_id(STAGE).files)


def test_run_autograder_gives_nothing_to_a_submission_that_forges_its_results(autograder, tmp_path):
    from tests.test_classroom import FORGER

    submission = tmp_path / "submission" / STAGE
    shutil.copytree(committed_exercises() / STAGE, submission, ignore=shutil.ignore_patterns("__pycache__"))
    (submission / "main.py").write_text(FORGER + (submission / "main.py").read_text())
    results = run_autograder(autograder, tmp_path)
    assert results["score"] == 0 and results["tests"][0]["status"] == "failed", results
    assert "killed (signal 9)" in results["output"], results


def test_run_autograder_explains_an_empty_submission(autograder, tmp_path):
    (tmp_path / "submission").mkdir()
    results = run_autograder(autograder, tmp_path)
    assert results["score"] == 0 and results["max_score"] == 20, results
    assert "No stage folder" in results["output"] and results["tests"][0]["status"] == "failed", results


# As Gradescope runs it: the zip unpacked at /autograder/source of a private mount namespace (a tmpfs on
# /autograder, nothing of this checkout or its .venv inside), setup.sh run there from scratch with the
# system's Python and PATH (pip may use its cache, as an image build may), run_autograder copied to
# /autograder and run from there, once per submission.
GRADESCOPE = r"""
set -euo pipefail
mount -t tmpfs -o size=6g autograder /autograder
mkdir -p /autograder/source /autograder/results
unzip -q "$ZIP" -d /autograder/source
(cd /autograder/source && bash ./setup.sh) > "$OUT/setup.log" 2>&1 || { tail -50 "$OUT/setup.log"; exit 3; }
cp /autograder/source/run_autograder /autograder/run_autograder
for name in solutions starters; do
  rm -rf /autograder/submission /autograder/results/*
  cp -r "$OUT/submissions/$name" /autograder/submission
  (cd /autograder && ./run_autograder) > "$OUT/$name.log" 2>&1 || true
  cp /autograder/results/results.json "$OUT/$name.json"
done
"""


def plain_environment() -> dict[str, str]:
    """This machine's environment without the dev .venv: no VIRTUAL_ENV, no PYTHONPATH; on PATH the system's
    folders after the Python the .venv was made from (Debian's 3.11.2 is older than the lock needs)."""
    drop = {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTEST_XDIST_WORKER", "PYTEST_CURRENT_TEST"}
    env = {name: value for name, value in os.environ.items() if name not in drop}
    env["PATH"] = f"{Path(sys.base_prefix) / 'bin'}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    return env


def test_the_gradescope_zip_builds_and_grades_in_a_fresh_autograder(tmp_path):
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("unzip"):
        pytest.skip("needs root, unshare and unzip to lay out a private /autograder")
    stages = load_stages()
    done = subprocess.run(["make", "--no-print-directory", "gradescope", f"OUT={tmp_path}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(SOLUTIONS, tmp_path / "submissions" / "solutions" / "exercises", ignore=ignore)  # nested
    for stage in stages:
        shutil.copytree(committed_exercises() / stage.id, tmp_path / "submissions" / "starters" / stage.id, ignore=ignore)
    Path("/autograder").mkdir(exist_ok=True)  # the mount point; the tmpfs on it lives in the namespace only
    done = subprocess.run(["unshare", "--mount", "--propagation", "private", "bash", "-c", GRADESCOPE],
                          capture_output=True, text=True, timeout=1500, cwd="/",
                          env={**plain_environment(), "ZIP": str(tmp_path / "gradescope-autograder.zip"),
                               "OUT": str(tmp_path)})
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    full = sum(stage.points for stage in stages)
    for name, expected in (("solutions", full), ("starters", 0)):
        results = json.loads((tmp_path / f"{name}.json").read_text())
        log = (tmp_path / f"{name}.log").read_text()[-3000:]
        assert results["score"] == expected and results["max_score"] == full, (name, log, results)
        # One test per stage, each with its points and a visibility, readable on a grade page.
        assert [test["name"].split(": ")[0] for test in results["tests"]] == [stage.id for stage in stages], results
        for test, stage in zip(results["tests"], stages):
            assert test["max_score"] == stage.points and test["visibility"] == "visible", test
            assert test["status"] == ("passed" if expected else "failed"), test
            assert len(test["output"]) < 12_000, test["name"]
    assert not Path("/autograder/source").exists(), "the private /autograder leaked out of its namespace"


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
        assert "-m grader" in step["run"] and "classroom.github_classroom" in step["run"], step


def student_checkout(folder: Path, exercises: Path) -> Path:
    """A student's repository after `make setup`, with EXERCISES as its exercises/ folder."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("grader", "workshop", "solutions"):
        shutil.copytree(ROOT / name, folder / name, ignore=ignore)
    shutil.copy2(ROOT / "stages.toml", folder / "stages.toml")
    shutil.copytree(exercises, folder / "exercises", ignore=ignore)
    (folder / ".venv").symlink_to(ROOT / ".venv")
    return folder


def run_the_classroom_step(checkout: Path, stages: str = "") -> tuple[str, dict, dict]:
    """The workflow's grading step, run in a student's CHECKOUT: (the payload, decoded, the grader's report)."""
    step = next(step for step in workflow_steps() if step.get("id") == "grader")
    output = checkout / "github-output"
    done = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=checkout, capture_output=True, text=True,
                          timeout=900, env={**os.environ, "STAGES": stages, "GITHUB_OUTPUT": str(output),
                                            "NO_COLOR": "1"})
    assert done.returncode == 0, done.stdout + done.stderr
    name, encoded = output.read_text().strip().split("=", 1)
    assert name == "result"
    return encoded, json.loads(base64.b64decode(encoded)), json.loads((checkout / "results.json").read_text())


def reporter_total(result: dict) -> float:
    """What the reporter prints: the tests' scores added up in floating point, as JavaScript adds them."""
    total = 0.0
    for test in result["tests"]:
        total += test["score"]
    return total


def broken_exercises(folder: Path) -> Path:
    """Every stage solved, but stage 01's guard lets HEAD through and stage 03 allowlists endpoint paths."""
    from bench.submissions import broken_fixture

    shutil.copytree(SOLUTIONS, folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for stage, case in (("01-middleware", "attack-skips-head"), ("03-prefix-only", "allowlists-endpoint-paths")):
        shutil.rmtree(folder / stage)
        broken_fixture(stage, case, folder)
    return folder


def convert_like_the_workflow(report: dict, folder: Path) -> tuple[str, dict]:
    """The grading step's second line run on REPORT (the grader's --json): (the payload, decoded)."""
    convert = next(step for step in workflow_steps() if step.get("id") == "grader")["run"].strip().splitlines()[1]
    assert convert.startswith(".venv/bin/python -m classroom.github_classroom results.json"), convert
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(report))
    done = subprocess.run([sys.executable, "-m", "classroom.github_classroom", "results.json"], cwd=folder,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    name, encoded = done.stdout.strip().split("=", 1)
    assert name == "result"
    return encoded, json.loads(base64.b64decode(encoded))


@pytest.mark.parametrize("submission", ["starters", "solutions", "broken"])
def test_the_classroom_payload_stays_small_and_adds_up_exactly(tmp_path, submission, request):
    """The broken submission runs the workflow's grading step end to end in a student's checkout; the starters
    and the solutions take the step's converter to the session's gradings of them (the same `python -m grader`)."""
    if submission == "broken":
        encoded, result, report = run_the_classroom_step(student_checkout(tmp_path / "repo",
                                                                          broken_exercises(tmp_path / "ex")))
    else:
        report = request.getfixturevalue(f"{submission}_graded").report
        encoded, result = convert_like_the_workflow(report, tmp_path)
    full = sum(stage.points for stage in load_stages())
    assert len(encoded) < 64 * 1024, f"{len(encoded)} bytes in one environment variable"
    assert result["max_score"] == report["max_score"] == full
    total = reporter_total(result)
    assert repr(total) == repr(float(f"{total:.2f}")), f"the reporter would print {total}/{full}"
    expected = {"starters": 0, "solutions": full}.get(submission)
    if expected is not None:
        assert total == report["score"] == expected, result
    else:
        assert 0 < total < full and abs(total - report["score"]) < 0.25 * len(load_stages()), (total, report["score"])
    assert [test["name"].split(": ")[0] for test in result["tests"]] == [stage.id for stage in load_stages()]
    assert result["status"] == ("pass" if total == full else "fail")
    assert all(len(test["message"]) <= 400 for test in result["tests"]), result


def test_the_dev_container_sets_up_the_workshop_and_forwards_every_stage_port():
    container = json.loads((ROOT / ".devcontainer" / "devcontainer.json").read_text())
    assert "python" in container["image"] and any("node" in feature for feature in container["features"])
    assert container["postCreateCommand"] == "make setup"
    stage_ports = {stage.port for stage in load_stages()}
    missing = stage_ports - set(container["forwardPorts"])
    assert not missing, f"add {sorted(missing)} to forwardPorts in .devcontainer/devcontainer.json"
    assert tomllib.loads((ROOT / "stages.toml").read_text())  # the ports came from the real stage list
