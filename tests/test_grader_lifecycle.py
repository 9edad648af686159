"""The grader cleans up after itself, whatever happens to it, and grades whole classes."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from grader.stages import ROOT, SOLUTIONS
from tests.conftest import children_now, committed_exercises, make_submission, processes_of, processes_under


def wait_for_processes(folder, count, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(processes_under(folder)) >= count:
            return
        time.sleep(0.1)
    raise AssertionError(f"fewer than {count} processes started under {folder}")


@pytest.mark.parametrize("when", ["while starting", "during the checks"])
@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "terminate"])
def test_an_interrupted_grader_leaves_no_server_behind(tmp_path, how, when):
    workdir = make_submission(tmp_path, "03-prefix-only")
    before = children_now()
    grader = subprocess.Popen([sys.executable, "-m", "grader", "03-prefix-only", "--workdir", str(workdir)],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wait_for_processes(workdir, 1)  # the student's server is starting (the reference runs elsewhere)
    seen = ""
    if when == "during the checks":
        while "✔" not in seen:  # a check has passed: pytest is running
            line = grader.stdout.readline()
            assert line, f"the grader ended before any check passed:\n{seen}"
            seen += line
    grader.send_signal(how)
    output, _ = grader.communicate(timeout=60)
    output = seen + output
    # 130/143 as the CLI reports it; -N if the signal lands while Python itself shuts down.
    assert grader.returncode in (130, 143, -how), output
    assert processes_under(workdir) == [], output
    assert processes_of(grader.pid, before) == [], f"the reference or other servers survived:\n{output}"


def test_a_whole_class_is_graded_in_one_command_whatever_pytest_settings_its_shell_has(tmp_path):
    """(The class grader lists the checks that exist with pytest too: PYTEST_ADDOPTS made it flag every one.)"""
    submissions = tmp_path / "class"
    shutil.copytree(SOLUTIONS / "01-middleware", submissions / "ada" / "01-middleware")
    shutil.copytree(committed_exercises() / "01-middleware", submissions / "bob" / "01-middleware")
    done = subprocess.run([sys.executable, "-m", "classroom", str(submissions), "--stage", "01-middleware",
                           "--out", str(tmp_path / "results")], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTEST_ADDOPTS": "--dist loadscope -x", "PYTEST_PLUGINS": "no_such_plugin"})
    assert done.returncode == 0, done.stdout + done.stderr
    ada = json.loads((tmp_path / "results" / "ada.json").read_text())
    bob = json.loads((tmp_path / "results" / "bob.json").read_text())
    assert ada["score"] == ada["max_score"] == 20
    assert 0 <= bob["score"] < bob["max_score"]
    lines = {line.split()[0]: line for line in done.stdout.splitlines() if line.strip()}
    assert "ok" in lines["ada"] and "20/20" in lines["ada"].replace(" ", ""), done.stdout
    assert "ok" not in lines["bob"].split()[-1], done.stdout


def test_a_missing_stage_folder_fails_clearly(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    report = tmp_path / "r.json"
    done = subprocess.run([sys.executable, "-m", "grader", "01", "--workdir", str(empty), "--json", str(report)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    first = json.loads(report.read_text())["tests"][0]
    assert first["status"] == "failed" and "there is no folder" in first["output"], first


def test_the_json_report_is_written_even_when_the_grader_itself_fails(tmp_path, monkeypatch):
    from grader import cli
    from grader.session import GradingSession

    def broken(*args, **kwargs):
        raise RuntimeError("the grader tripped over its own feet")

    monkeypatch.setattr(cli, "run_checks", broken)
    monkeypatch.setattr(GradingSession, "prelaunch", lambda self: None)  # nothing to start for this test
    monkeypatch.setattr(cli.signal, "signal", lambda *args: None)  # leave this process's SIGTERM alone
    report = tmp_path / "report.json"
    assert cli.main(["01-middleware", "--json", str(report)]) == 2
    written = json.loads(report.read_text())
    assert written["score"] == 0 and written["max_score"] == 20  # the stage data's points, though nothing ran
    assert written["tests"][-1]["name"] == "grader" and "tripped over its own feet" in written["tests"][-1]["output"]


def test_a_grader_stopped_mid_stage_reports_as_passed_exactly_what_it_showed_as_passed(tmp_path):
    """As an autograder's time limit stops it: SIGTERM while checks are running, with --json."""
    report = tmp_path / "r.json"
    grader = subprocess.Popen([sys.executable, "-m", "grader", "03", "04", "--workdir", str(SOLUTIONS), "--details",
                               "--json", str(report)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, env={**os.environ, "NO_COLOR": "1"})
    seen = ""
    while seen.count("✔") < 12:
        line = grader.stdout.readline()
        assert line, f"the grader ended before twelve checks passed:\n{seen}"
        seen += line
    grader.send_signal(signal.SIGTERM)
    output, _ = grader.communicate(timeout=60)
    seen += output
    written = json.loads(report.read_text())
    shown_passed = seen.count("✔")
    reported_passed = [test for test in written["tests"] if test["status"] == "passed"]
    assert len(reported_passed) == shown_passed, seen
    not_run = [test for test in written["tests"] if test["extra_data"]["outcome"] == "not run"]
    assert not_run and all(test["score"] == 0 for test in not_run), written
    assert written["max_score"] == 60, written["max_score"]  # 03 and 04 as stages.toml gives them
    assert written["score"] < written["max_score"]


@pytest.mark.parametrize("case", ["lets-everyone-in", "accepts-the-first-of-two"])
def test_the_fork_server_and_a_cold_start_give_the_same_verdicts(tmp_path, case):
    """The two ways of starting student code sit behind one interface: each check ends the same either way."""
    from tests.conftest import grade

    workdir = make_submission(tmp_path, "01-middleware", case)
    forked = grade(workdir, "01-middleware", tmp_path=tmp_path / "forked", env={"GRADER_FORKSERVER": "1"})
    cold = grade(workdir, "01-middleware", tmp_path=tmp_path / "cold", env={"GRADER_FORKSERVER": "0"})

    def outcomes(run):
        return {test["name"]: test["extra_data"]["outcome"] for test in run.report["tests"]}

    assert outcomes(forked) == outcomes(cold)
    assert forked.report["score"] == cold.report["score"] < forked.report["max_score"]


def test_pytest_settings_in_the_students_environment_change_nothing(tmp_path):
    """The grader runs its checks with pytest: a shell that sets PYTEST_ADDOPTS or PYTEST_PLUGINS for its own
    pytest (a student's, or a test runner above the grader) neither stops nor bends the grading."""
    from tests.conftest import grade

    run = grade(SOLUTIONS, "01-middleware", tmp_path=tmp_path,
                env={"PYTEST_ADDOPTS": "--dist loadscope -x -k nothing", "PYTEST_PLUGINS": "no_such_plugin"})
    assert run.returncode == 0 and run.report["score"] == run.report["max_score"] == 20, run.stdout
