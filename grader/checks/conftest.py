"""Fixtures shared by every stage's checks: the run, the stage, its servers, the chain of links."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.checks.declared import declared
from grader.harness import Server, ServerDidNotStart
from grader.launch import Launch
from grader.probes import tail
from grader.session import GradingSession
from grader.stages import EXERCISES, SOLUTIONS, Stage, load_stages, stage_of_checks
from grader.verdict import blocked_by


def pytest_addoption(parser):
    group = parser.getgroup("grader")
    group.addoption("--workdir", default=str(EXERCISES), help="folder laid out like exercises/")
    group.addoption("--reference", default=str(SOLUTIONS), help="folder with the reference solutions")


def pytest_configure(config):
    config.addinivalue_line("markers", "unscored: the untouched starter already passes this check: it runs, "
                                       "shows, and is worth no points")
    config.addinivalue_line("markers", "gate: failing this check takes every point of its stage")
    config.addinivalue_line("markers", "weight(n): this check counts n times in its stage's points (default 1)")
    if not any(isinstance(plugin, GradingSession) for plugin in config.pluginmanager.get_plugins()):
        # Run without the CLI (plain pytest on this folder): grade every stage with a session of our own.
        config.pluginmanager.register(GradingSession(load_stages(), Path(config.getoption("--workdir")),
                                                     Path(config.getoption("--reference"))), "grading-session")


@pytest.fixture(scope="module")
def stage(request) -> Stage:
    return stage_of_checks(request.module.__file__)


@pytest.fixture(scope="module")
def launch(session: GradingSession, stage) -> Launch:
    started = session.launch(stage)
    started.start_extras()
    yield started
    started.stop()


@pytest.fixture(scope="module")
def imports_ok(launch) -> None:
    """Blocks later checks when the student's code does not import."""
    if launch.missing:
        blocked_by(f"there is no folder {launch.student_dir}")
    result = launch.import_result()
    if not result.ok:
        blocked_by("the code does not import (see the first check)")


@pytest.fixture(scope="module")
def student(launch, imports_ok) -> Server:
    try:
        return launch.student.wait_ready()
    except ServerDidNotStart as error:
        blocked_by("the server did not start (see 'the server starts')", f"{error}\n{tail(launch.student.log())}")


@pytest.fixture(scope="module")
def reference(launch) -> Server:
    try:
        return launch.reference.wait_ready()
    except ServerDidNotStart as error:  # the grader's own fault, never the student's
        raise RuntimeError(f"grader problem: the reference solution did not start: {error}\n"
                           f"{tail(launch.reference.log())}") from None


@pytest.fixture(scope="module")
def behind_proxy(launch, student, reference) -> tuple[Server, Server]:
    """The student's and the reference server again, as a reverse proxy runs them (--root-path)."""
    mine, theirs = launch.extras["student-proxied"], launch.extras["reference-proxied"]
    try:
        mine.wait_ready()
    except ServerDidNotStart as error:
        blocked_by(f"the server did not start with --root-path {launch.root_path}", f"{error}\n{tail(mine.log())}")
    return mine, theirs.wait_ready()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """A stage module's DECLARED lists the shared checks its starter already passes (stage 03's starter
    arrives with stage 01's hardened guard, say) and the checks that weigh more than one row."""
    for item in items:
        stated = declared(item.module)
        if item.originalname in stated.unscored:
            item.add_marker(pytest.mark.unscored)
        if item.originalname in stated.weights:
            item.add_marker(pytest.mark.weight(stated.weights[item.originalname]))
