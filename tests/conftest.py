"""Helpers for testing the workshop: run the grader as a student would, build submissions."""

from __future__ import annotations

import atexit
import dataclasses
import fcntl
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from course.loop import starters
from course.loop.state import state_path
from bench.submissions import broken_fixture
from grader import processes
from grader.harness import become_subreaper
from grader.stages import EXERCISES, ROOT, SOLUTIONS

BROKEN = Path(__file__).parent / "broken"

# The tests run offline: no traces to export, no real model.
os.environ["OPENAI_AGENTS_DISABLE_TRACING"] = "1"
os.environ.pop("OPENAI_API_KEY", None)


@functools.cache
def committed_exercises() -> Path:
    """A folder laid out like exercises/ holding the starters the repository ships: git HEAD's.

    Never the working copy: a student who solved exercises/ in this checkout runs `make test` too,
    and the project's tests are about the committed starters. Outside git, the pristine copy the
    loop keeps (.workshop/starters/); with neither, exercises/ is all there is.
    """
    folder = Path(tempfile.mkdtemp(prefix="workshop-starters-"))
    atexit.register(shutil.rmtree, folder, True)
    try:
        starters.lay_out(folder, state_path().parent)
    except starters.NoStarter:
        shutil.rmtree(folder)
        shutil.copytree(EXERCISES, folder, ignore=starters.IGNORED)
    return folder


def repository_copy(target: Path) -> Path:
    """A fresh checkout in TARGET: the tracked files as they are now, the committed starters in exercises/,
    its own git repository (one commit), and this checkout's .venv and Node.js clients through symlinks."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = ROOT / name
        if name.startswith("exercises/") or not source.is_file():
            continue
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target / name)
    shutil.copytree(committed_exercises(), target / "exercises")
    for shared in (".venv", "interop/node_modules", "interop/inspector/node_modules"):
        if (ROOT / shared).exists():
            (target / shared).symlink_to(ROOT / shared, target_is_directory=True)
    git = ["git", "-c", "user.name=workshop-tests", "-c", "user.email=tests@localhost", "-c", "commit.gpgsign=false"]
    for step in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "a fresh copy"]):
        subprocess.run(git + step, cwd=target, check=True, capture_output=True)
    return target


@dataclass
class GradeRun:
    returncode: int
    stdout: str
    report: dict

    def check(self, title: str) -> dict:
        """The one check whose title is TITLE, or else begins with it."""
        titles = {test["name"].split(": ", 1)[1]: test for test in self.report["tests"]}
        found = [titles[title]] if title in titles else [test for name, test in titles.items()
                                                          if name.startswith(title)]
        assert len(found) == 1, f"{len(found)} checks match {title!r}:\n{self.stdout}"
        return found[0]

    def statuses(self) -> dict[str, str]:
        return {test["name"]: test["status"] for test in self.report["tests"]}

    def failed(self) -> list[dict]:
        return [test for test in self.report["tests"] if test["status"] != "passed"]

    def explain(self, names: list[str]) -> str:
        """The whole output of the checks NAMES first, then the grader's: a long output is cut in the
        middle by CI logs, and the check a test is about must not be what gets cut."""
        outputs = [f"{test['name']} [{test['status']}]:\n{test['output']}"
                   for test in self.report["tests"] if test["name"] in names]
        return "\n\n".join([*outputs, "-- the grader printed --", self.stdout])


def grade(workdir: Path, *stages: str, tmp_path: Path, env: dict[str, str] | None = None,
          timeout: float = 300) -> GradeRun:
    """Run `python -m grader STAGES --workdir WORKDIR --json ...` in a subprocess, as `make grade` does."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    before = children_now()
    report_file = tmp_path / f"report-{'-'.join(stages) or 'all'}.json"
    grader = subprocess.Popen(
        [sys.executable, "-m", "grader", *stages, "--workdir", str(workdir), "--json", str(report_file)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
    )
    output, _ = grader.communicate(timeout=timeout)
    assert report_file.exists(), f"no JSON report was written:\n{output}"
    assert processes_of(grader.pid, before) == [], f"the grader left processes behind:\n{output}"
    left = list(Path(tempfile.gettempdir()).glob(f"grader-run-{grader.pid}-*"))
    assert left == [], f"the grader left its files behind: {left}"
    return GradeRun(grader.returncode, output, json.loads(report_file.read_text()))


def once_per_session(factory: pytest.TempPathFactory, name: str, make) -> dict:
    """MAKE(folder) -> a JSON-able result, computed once per test session by whichever xdist worker asks
    first (the others wait for it, then read it): for work that several modules assert on."""
    shared = factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the session's folder, above every worker's own
    folder, done = shared / name, shared / name / "done.json"
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            folder.mkdir(exist_ok=True)
            done.write_text(json.dumps(make(folder)))
    return json.loads(done.read_text())


@pytest.fixture(scope="session")
def solutions_graded(tmp_path_factory) -> GradeRun:
    """Every stage of solutions/ graded once for the whole session, as `make grade` grades it."""
    return GradeRun(**once_per_session(tmp_path_factory, "graded-solutions",
                                       lambda folder: dataclasses.asdict(grade(SOLUTIONS, tmp_path=folder))))


@pytest.fixture(scope="session")
def starters_graded(tmp_path_factory) -> GradeRun:
    """Every stage of the committed starters graded once for the whole session."""
    return GradeRun(**once_per_session(tmp_path_factory, "graded-starters",
                                       lambda folder: dataclasses.asdict(grade(committed_exercises(), tmp_path=folder))))


def make_submission(tmp_path: Path, stage: str, case: str | None = None) -> Path:
    """A workdir holding the reference solution of STAGE, broken as tests/broken/STAGE/CASE says.

    A fixture is either a folder of whole files laid over the solution, or a
    CASE.toml of [[replace]] entries (file, old, new) applied to it: one mistake
    each, and the test fails loudly if the solution no longer holds the old text.
    """
    workdir = tmp_path / (case or "solution")
    if case:
        broken_fixture(stage, case, workdir)
    else:
        shutil.copytree(SOLUTIONS / stage, workdir / stage, ignore=shutil.ignore_patterns("__pycache__"))
    return workdir


def processes_of(grader_pid: int, before: frozenset[int] = frozenset()) -> list[str]:
    """Processes still running that a grader (a child of this test process) started.

    This process is a subreaper (see below): whatever the grader left behind when it
    ended was adopted by it, so its descendants, less those it had BEFORE, are the leftovers.
    """
    for pid in processes.dead_children():
        if pid != grader_pid:  # an adopted orphan that already ended; the grader is its caller's to collect
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
    return [processes.describe(process) for process in processes.descendants()
            if process.pid not in before and process.pid != grader_pid and processes.alive(process.pid)]


def children_now() -> frozenset[int]:
    return frozenset(process.pid for process in processes.descendants())


# Orphans of the graders these tests start are adopted here, not by init: processes_of() finds them.
become_subreaper()


def processes_under(folder: Path) -> list[str]:
    """Processes still running with their working directory inside FOLDER."""
    return [processes.describe(process) for process in processes.working_in(folder)]


# xdist (--dist loadgroup) runs each module whole on one worker (its module fixtures set up once, its tests in
# order) unless its tests name their own xdist_group: tests/test_attacks_found.py groups by graded run, and a
# document's commands are a group (tests/test_documents.py). Spreading the stage modules test by test as well
# made no difference to the whole suite on 2 cores (fresh clones: 712 s against 710 s, 1353 against 1340 s of
# CPU): it is CPU-bound, and a module's gradings in a row leave the other workers the cores.
SPREAD_TEST_BY_TEST = {"test_attacks_found"}


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(items):
    for item in items:
        module = item.module.__name__.rpartition(".")[2]
        if module not in SPREAD_TEST_BY_TEST and item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(module))


@pytest.fixture
def grade_case(tmp_path):
    """Grade one fixture submission and assert it left no process behind."""

    def run(stage: str, case: str | None = None, env: dict[str, str] | None = None) -> GradeRun:
        workdir = make_submission(tmp_path, stage, case)
        result = grade(workdir, stage, tmp_path=tmp_path, env=env)
        assert processes_under(workdir) == [], "the grader left processes behind"
        return result

    return run
