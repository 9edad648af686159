"""Fixtures shared by every stage's checks: the stage, its servers, the chain of links."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.harness import Finished, Server, ServerDidNotStart, run_python, IMPORT_SCRIPT
from grader.probes import tail
from grader.stages import EXERCISES, SOLUTIONS, Stage, stage_by_id
from grader.verdict import blocked_by


def pytest_addoption(parser):
    group = parser.getgroup("grader")
    group.addoption("--workdir", default=str(EXERCISES), help="folder laid out like exercises/")
    group.addoption("--reference", default=str(SOLUTIONS), help="folder with the reference solutions")


class Launch:
    """Everything a stage needs, started at once so the processes start in parallel.

    The import check, the student's server and the reference server run side by
    side; each check then waits only for the part it needs.
    """

    def __init__(self, stage: Stage, student_dir: Path, reference_dir: Path, *,
                 env: dict[str, str], student_server: bool = True) -> None:
        self.stage, self.student_dir, self.reference_dir, self.env = stage, student_dir, reference_dir, env
        self.missing = not student_dir.is_dir()
        self.student = Server(student_dir, stage.app, env=env, label="student") \
            if student_server and not self.missing else None
        self.reference = Server(reference_dir, stage.app, env=env, label="reference")
        self._import_result = None
        self.others: list[Server] = []

    def import_result(self) -> Finished:
        """Import the stage's modules in a subprocess, only as far as the server has not proven it.

        A server that started has imported the app's module already; then only the
        other files with TODOs (an agent, a client) are left to import. A server that
        did not start gets the full import check, for a clean traceback.
        """
        if self._import_result is None:
            modules = self.stage.modules
            if self.student is not None:
                try:
                    self.student.wait_ready()
                    modules = [name for name in modules if name != self.stage.app.split(":")[0]]
                except ServerDidNotStart:
                    pass
            self._import_result = run_python(self.student_dir, ["-c", IMPORT_SCRIPT, *modules], env=self.env,
                                             timeout=45, label="imports") if modules else Finished(0, "")
        return self._import_result

    def extra_server(self, folder: Path, **options) -> Server:
        server = Server(folder, self.stage.app, **options)
        self.others.append(server)
        return server

    def stop(self) -> None:
        for server in [self.student, self.reference, *self.others]:
            if server is not None:
                server.stop()


@pytest.fixture(scope="module")
def stage(request) -> Stage:
    return stage_by_id(request.module.STAGE)


@pytest.fixture(scope="module")
def launch(request, stage):
    workdir = Path(request.config.getoption("--workdir")).resolve()
    reference = Path(request.config.getoption("--reference")).resolve()
    env = dict(getattr(request.module, "SERVER_ENV", {}))
    started = Launch(stage, workdir / stage.id, reference / stage.id, env=env,
                     student_server=getattr(request.module, "STUDENT_SERVER", True))
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
