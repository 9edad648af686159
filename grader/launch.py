"""Start a stage's processes as early as possible, so they boot while the grader loads.

The CLI calls prelaunch() before it even imports pytest; the checks' `launch`
fixture then picks up what is already starting (or starts it, when the checks
run without the CLI).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from grader.harness import IMPORT_SCRIPT, Finished, Server, ServerDidNotStart, run_python, stop_servers
from grader.stages import Stage

# One fresh key per grading run, for stages whose server reads API_KEY. Kept in
# the environment so the check modules (imported later by pytest) see the same one.
STAGE_KEY = os.environ.setdefault("GRADER_STAGE_KEY", secrets.token_urlsafe(24))

PROXY_ROOT = "/api"  # the root path the stages that are checked behind a proxy run under

_PRELAUNCHED: dict[tuple[str, Path, Path], "Launch"] = {}


class Launch:
    """Everything a stage needs, started at once so the processes start in parallel.

    The import check, the student's server and the reference server run side by
    side; each check then waits only for the part it needs.
    """

    def __init__(self, stage: Stage, student_dir: Path, reference_dir: Path) -> None:
        self.stage, self.student_dir, self.reference_dir = stage, student_dir, reference_dir
        env = self.env = {"API_KEY": STAGE_KEY} if stage.key_from_env else {}
        student_server = stage.student_server
        self.missing = not student_dir.is_dir()
        self.student = Server(student_dir, stage.app, env=env, label="student") \
            if student_server and not self.missing else None
        self.reference = Server(reference_dir, stage.app, env=env, label="reference")
        self._import_result = None
        self.extras: dict[str, Server] = {}

    def start_extras(self) -> None:
        """The other servers the stage's checks use, started ahead so they boot in parallel."""
        if self.extras or self.missing:
            return
        if self.stage.proxied:  # both again, as a reverse proxy runs them
            for label, folder, owner in [("student-proxied", self.student_dir, self.student),
                                         ("reference-proxied", self.reference_dir, self.reference)]:
                if owner is not None:
                    self.extras[label] = Server(folder, self.stage.app, env=self.env, root_path=PROXY_ROOT,
                                                label=label)
        if self.stage.key_from_env and self.student is not None:  # does it fail closed?
            self.extras["keyless"] = Server(self.student_dir, self.stage.app, env={"API_KEY": ""}, label="keyless")

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
            # The client script runs in its own check (its traceback shows there): compiling it is
            # enough here, and spares importing the agents SDK once more.
            client = self.stage.client.removesuffix(".py")
            modules = [f"compile:{name}.py" if name == client else name for name in modules]
            self._import_result = run_python(self.student_dir, ["-c", IMPORT_SCRIPT, *modules], env=self.env,
                                             timeout=45, label="imports") if modules else Finished(0, "")
        return self._import_result

    def stop(self) -> None:
        stop_servers([server for server in [self.student, self.reference, *self.extras.values()] if server is not None])


def _key(stage: Stage, workdir: Path, reference: Path) -> tuple[str, Path, Path]:
    return stage.id, workdir.resolve(), reference.resolve()


def planned_processes(stage: Stage) -> int:
    """How many processes grading STAGE starts, besides its agents."""
    servers = (2 if stage.student_server else 1) + (2 if stage.proxied else 0) + (1 if stage.key_from_env else 0)
    return servers + (1 if stage.client in stage.todo else 0)  # + the import check of a client


def worth_a_fork_server(stages: list[Stage]) -> bool:
    """The fork server costs one cold start up front and makes every later start almost free:
    it pays off from the third process on."""
    return sum(planned_processes(stage) for stage in stages) > 2


def prelaunch(stages: list[Stage], workdir: Path, reference: Path) -> None:
    """Start every stage's main servers now, and the first stage's other servers too.

    (Later stages start their other servers when their checks begin: starting all
    of them at once would only make the first stage wait for the CPU.)
    """
    for index, stage in enumerate(stages):
        key = _key(stage, workdir, reference)
        _PRELAUNCHED[key] = Launch(stage, key[1] / stage.id, key[2] / stage.id)
        if index == 0:
            _PRELAUNCHED[key].start_extras()


def launch_for(stage: Stage, workdir: Path, reference: Path) -> "Launch":
    key = _key(stage, workdir, reference)
    launch = _PRELAUNCHED.pop(key, None) or Launch(stage, key[1] / stage.id, key[2] / stage.id)
    launch.start_extras()
    return launch
