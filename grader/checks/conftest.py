"""Fixtures shared by every stage's checks: the stage, its servers, the chain of links."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.harness import Server, ServerDidNotStart
from grader.launch import PROXY_ROOT, launch_for
from grader.probes import tail
from grader.stages import EXERCISES, SOLUTIONS, Stage, stage_by_id
from grader.verdict import blocked_by


def pytest_addoption(parser):
    group = parser.getgroup("grader")
    group.addoption("--workdir", default=str(EXERCISES), help="folder laid out like exercises/")
    group.addoption("--reference", default=str(SOLUTIONS), help="folder with the reference solutions")


@pytest.fixture(scope="module")
def stage(request) -> Stage:
    return stage_by_id(request.module.STAGE)


@pytest.fixture(scope="module")
def launch(request, stage):
    workdir = Path(request.config.getoption("--workdir"))
    reference = Path(request.config.getoption("--reference"))
    started = launch_for(stage, workdir, reference)
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
        blocked_by(f"the server did not start with --root-path {PROXY_ROOT}", f"{error}\n{tail(mine.log())}")
    return mine, theirs.wait_ready()
