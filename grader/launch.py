"""Start a stage's processes as early as possible, so they boot while the grader loads.

The CLI builds the run's GradingSession and calls prelaunch() before it even
imports pytest; the checks' `launch` fixture then picks up what is already
starting (or starts it, when nothing was prelaunched).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from grader.harness import IMPORT_SCRIPT, Finished, Server, ServerDidNotStart, run_dir, run_python, stop_servers
from grader.stage_env import PREPARE
from grader.stages import Stage

# How a server is started without a usable key: each must refuse to serve (or refuse everyone).
KEYLESS = {"keyless-unset": None, "keyless-empty": "", "keyless-blank": "   "}


class Launch:
    """Everything a stage needs, started at once so the processes start in parallel.

    The import check, the student's server and the reference server run side by
    side; each check then waits only for the part it needs.
    """

    def __init__(self, stage: Stage, student_dir: Path, reference_dir: Path, *, key: str, root_path: str) -> None:
        self.stage, self.student_dir, self.reference_dir = stage, student_dir, reference_dir
        self.key, self.root_path = key, root_path
        self.env = {"API_KEY": key} if stage.key_from_env else {}
        self.missing = not student_dir.is_dir()
        self.student = self._server(student_dir, "student") if stage.student_server and not self.missing else None
        self.reference = self._server(reference_dir, "reference")
        self._import_result = None
        self.extras: dict[str, Server] = {}

    def server_env(self, folder: Path, base: dict[str, str] | None = None) -> dict[str, str]:
        """The environment of a server of this stage in FOLDER: the run's key and what the stage prepares."""
        env = dict(self.env if base is None else base)
        prepare = PREPARE.get(self.stage.id)
        if prepare is not None:
            private = Path(tempfile.mkdtemp(prefix=f"{self.stage.number}-", dir=run_dir()))
            env.update(prepare(folder, private, self.key))
        return env

    def _server(self, folder: Path, label: str, *, root_path: str | None = None,
                base: dict[str, str] | None = None) -> Server:
        return Server(folder, self.stage.app, env=self.server_env(folder, base), root_path=root_path, label=label)

    def start_extras(self) -> None:
        """The other servers the stage's checks use, started ahead so they boot in parallel."""
        if self.extras or self.missing:
            return
        if self.stage.proxied:  # both again, as a reverse proxy runs them
            for label, folder, owner in [("student-proxied", self.student_dir, self.student),
                                         ("reference-proxied", self.reference_dir, self.reference)]:
                if owner is not None:
                    self.extras[label] = self._server(folder, label, root_path=self.root_path)
        if self.stage.key_from_env and self.student is not None:  # does it fail closed?
            for label, value in KEYLESS.items():
                self.extras[label] = self._server(self.student_dir, label,
                                                  base={} if value is None else {"API_KEY": value})

    def keyless(self) -> dict[str, Server]:
        return {label: server for label, server in self.extras.items() if label in KEYLESS}

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
            # The server's own environment: a stage may need more than API_KEY to import (a pepper, a JWKS file).
            env = self.student.env if self.student is not None else self.server_env(self.student_dir)
            self._import_result = run_python(self.student_dir, ["-c", IMPORT_SCRIPT, *modules], env=env,
                                             timeout=IMPORT_TIMEOUT, label="imports") if modules else Finished(0, "")
        return self._import_result

    def servers(self) -> list[Server]:
        return [server for server in [self.student, self.reference, *self.extras.values()] if server is not None]

    def stop(self) -> None:
        stop_servers(self.servers())


# An import that hangs is cut off after this long (a module that loops at import never binds either).
IMPORT_TIMEOUT = 20.0


def planned_processes(stage: Stage) -> int:
    """How many processes grading STAGE starts, besides its agents."""
    keyless = len(KEYLESS) if stage.key_from_env and stage.student_server else 0
    servers = (2 if stage.student_server else 1) + (2 if stage.proxied else 0) + keyless
    return servers + (1 if stage.client in stage.todo else 0)  # + the import check of a client


def worth_a_fork_server(stages: list[Stage]) -> bool:
    """The fork server costs one cold start up front and makes every later start almost free:
    it pays off from the third process on."""
    return sum(planned_processes(stage) for stage in stages) > 2
