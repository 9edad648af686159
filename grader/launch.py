"""Start a stage's processes as early as possible, so they boot while the grader loads.

The CLI builds the run's GradingSession and calls prelaunch() before it even
imports pytest; the checks' `launch` fixture then picks up what is already
starting (or starts it, when nothing was prelaunched).
"""

from __future__ import annotations

import secrets
import tempfile
import threading
import time
from pathlib import Path

from grader.harness import (IMPORT_SCRIPT, START_TIMEOUT, Finished, Server, ServerDidNotStart, copy_without_dotenv,
                            open_to_the_reference, run_dir, run_python, stop_servers)
from grader.stage_env import RunValues, preparation
from grader.stages import Stage

# How a server is started without a usable key: each must refuse to serve (or refuse everyone).
KEYLESS = {"keyless-unset": None, "keyless-empty": "", "keyless-blank": "   "}
# The student's server with a second key, to tell a refusal that depends on the key.
OTHER_KEY = "student-other-key"


class Launch:
    """Everything a stage needs, started at once so the processes start in parallel.

    The import check, the student's server and the reference server run side by
    side; each check then waits only for the part it needs.
    """

    def __init__(self, stage: Stage, student_dir: Path, reference_dir: Path, *, run: RunValues, root_path: str) -> None:
        self.stage, self.student_dir, self.reference_dir = stage, student_dir, reference_dir
        self.run, self.root_path = run, root_path
        self.other_key = secrets.token_urlsafe(len(run.key) + 9)  # longer than the key, and unrelated to it
        self.env = {"API_KEY": run.key} if stage.key_from_env else {}
        self.missing = not student_dir.is_dir()
        self.student = self._server(student_dir, "student") if stage.student_server and not self.missing else None
        self.reference = self._server(reference_dir, "reference")
        if self.student is not None:
            self._measure_against(self.student, self.reference)
        self._import_result: Finished | None = None
        self._import_check: threading.Thread | None = None
        self.extras: dict[str, Server] = {}

    def server_env(self, folder: Path, base: dict[str, str] | None = None) -> dict[str, str]:
        """The environment of a server of this stage in FOLDER: the run's key and what the stage prepares."""
        env = dict(self.env if base is None else base)
        prepare = preparation(self.stage)
        if prepare is not None:
            private = Path(tempfile.mkdtemp(prefix=f"{self.stage.number}-", dir=run_dir()))
            env.update(prepare(folder, private, self.run))
            open_to_the_reference(folder, env)
        return env

    def _server(self, folder: Path, label: str, *, root_path: str | None = None,
                base: dict[str, str] | None = None) -> Server:
        return Server(folder, self.stage.app, env=self.server_env(folder, base), root_path=root_path, label=label)

    def _measure_against(self, server: Server, twin: Server) -> None:
        """Wait for SERVER (the student's) as long as its TWIN, the reference started beside it, allows."""
        server.give_up = lambda: self._server_gives_up(server, twin)

    # -- how long to wait: measured against the reference, started beside the student's code -----------

    @staticmethod
    def allowance(reference: Server) -> tuple[float, float] | None:
        """(seconds a student's process may take, the REFERENCE's start) once the reference has answered.

        The student's processes start beside the reference's, on the same machine at the
        same moment: a loaded machine slows both, and the allowance grows with it. While
        the reference is still starting there is no allowance yet: the wait goes on.
        """
        try:
            if not reference.answering():
                return None
        except ServerDidNotStart:
            return None
        floor = reference.ready_at - reference.spawned_at
        return SLOWER_THAN_REFERENCE * floor + MARGIN, floor

    def _server_gives_up(self, server: Server, twin: Server) -> str | None:
        result = self._import_result
        if result is not None and not result.ok:
            return "did not start: its code does not import (see 'the code imports')."
        allowed = self.allowance(twin)
        waited = time.monotonic() - server.spawned_at
        if allowed is not None and waited > allowed[0]:
            return (f"did not answer on its port within {waited:.0f} s, while the reference server started in "
                    f"{allowed[1]:.1f} s (it never started listening: does start-up wait for something?)")
        return None

    def _import_gives_up(self, ran: float) -> str | None:
        allowed = self.allowance(self.reference)
        if allowed is not None and ran > allowed[0]:
            return (f"the import did not finish within {ran:.0f} s, while the reference server (the same imports "
                    f"and a server start) took {allowed[1]:.1f} s: a module waits for something at import time "
                    "(a sleep, input(), an endless loop, a network call)")
        return None

    def start_extras(self) -> None:
        """The other servers the stage's checks use, started ahead so they boot in parallel."""
        self.start_import_check()
        if self.extras or self.missing:
            return
        if self.stage.proxied:  # both again, as a reverse proxy runs them
            for label, folder, owner in [("student-proxied", self.student_dir, self.student),
                                         ("reference-proxied", self.reference_dir, self.reference)]:
                if owner is not None:
                    self.extras[label] = self._server(folder, label, root_path=self.root_path)
            if "student-proxied" in self.extras:
                self._measure_against(self.extras["student-proxied"], self.extras["reference-proxied"])
        if self.stage.key_from_env and self.student is not None:
            # The student's server again with another key (another length too): a refusal that differs
            # between the two tells the client something about the key.
            self.extras[OTHER_KEY] = self._server(self.student_dir, OTHER_KEY, base={"API_KEY": self.other_key})
            self._measure_against(self.extras[OTHER_KEY], self.reference)
            for label, value in KEYLESS.items():  # does it fail closed?
                # Unset means unset: a .env the lessons have the student write would hand the key back.
                folder = self.student_dir if value is not None else copy_without_dotenv(self.student_dir)
                self.extras[label] = self._server(folder, label, base={} if value is None else {"API_KEY": value})
                self._measure_against(self.extras[label], self.reference)

    def keyless(self) -> dict[str, Server]:
        return {label: server for label, server in self.extras.items() if label in KEYLESS}

    def start_import_check(self) -> None:
        """Import the stage's modules in a subprocess, beside the servers' start rather than after it.

        A server whose code hangs at import would keep its start waiting: the import
        check ending in failure ends that wait too. The client script runs in its own
        check (its traceback shows there): compiling it is enough here, and spares
        importing the agents SDK once more. So are a stage's other scripts (stage 07's exploits).
        """
        if self._import_check is not None or self.missing:
            return
        programs = {name.removesuffix(".py") for name in (self.stage.client, *self.stage.scripts)}
        modules = [f"compile:{name}.py" if name in programs else name for name in self.stage.modules]
        # The server's own environment: a stage may need more than API_KEY to import (a pepper, a JWKS file).
        env = self.student.env if self.student is not None else self.server_env(self.student_dir)

        def check() -> None:
            self._import_result = run_python(self.student_dir, ["-c", IMPORT_SCRIPT, *modules], env=env,
                                             timeout=IMPORT_TIMEOUT, label="imports", give_up=self._import_gives_up)

        self._import_check = threading.Thread(target=check, name=f"imports-{self.stage.id}", daemon=True)
        self._import_check.start()

    def import_result(self) -> Finished:
        self.start_import_check()
        if self._import_check is None:  # no student folder: nothing to import
            return Finished(1, f"there is no folder {self.student_dir}")
        self._import_check.join()
        return self._import_result

    def servers(self) -> list[Server]:
        return [server for server in [self.student, self.reference, *self.extras.values()] if server is not None]

    def stop(self) -> None:
        stop_servers(self.servers())


# A student's process (an import check, a server until it answers) may take this many times as
# long as the reference server took to start, plus MARGIN (a student may import a little more).
# Measured on the shared 2-core machine: a reference server forked by the fork server answers in
# 0.1-0.5 s, a cold one in 1.5-3 s (more under heavy load, and the allowance grows with it): a
# hanging import or a server that never binds gets its verdict in 7-10 s (make bench).
SLOWER_THAN_REFERENCE = 2.0
MARGIN = 5.0
# The ceiling of an import check when the reference gives no measure (it has not answered yet).
IMPORT_TIMEOUT = START_TIMEOUT


def planned_processes(stage: Stage) -> int:
    """How many processes grading STAGE starts, besides its agents."""
    keyless = len(KEYLESS) + 1 if stage.key_from_env and stage.student_server else 0  # + the other key
    servers = (2 if stage.student_server else 1) + (2 if stage.proxied else 0) + keyless
    return servers + (1 if stage.client in stage.todo else 0) + stage.processes  # + the import check of a client


def worth_a_fork_server(stages: list[Stage]) -> bool:
    """The fork server costs one cold start up front and makes every later start almost free:
    it pays off from the third process on."""
    return sum(planned_processes(stage) for stage in stages) > 2
