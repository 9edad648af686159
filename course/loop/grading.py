"""Run the grader as a subprocess and read its JSON report: the loop never grades by itself.

    python -m grader STAGE --workdir DIR --json FILE    (exit 0 exactly when every check passes)
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from grader.report import Report
from grader.stages import ROOT, SOLUTIONS, STAGES_FILE, Stage

# How long one stage may take before the loop gives up on the grader (a hung student server
# is the grader's to time out; this is the backstop for the grader itself).
GRADE_TIMEOUT = float(os.environ.get("WORKSHOP_GRADE_TIMEOUT", "300"))


@dataclass
class Check:
    stage: str
    title: str
    status: str  # passed | failed
    outcome: str  # passed | failed | blocked | not run
    output: str = ""
    sent: str = ""
    got: str = ""
    expected: str = ""
    hint: str = ""
    hint_topic: str | None = None
    score: float = 0.0  # its points, and what it could have had: for the class dashboard's gradebook
    max_score: float = 0.0

    @property
    def passed(self) -> bool:
        return self.status == "passed"


@dataclass
class Verdict:
    stage: str
    returncode: int | None
    checks: list[Check] = field(default_factory=list)
    error: str = ""  # the grader failed, timed out or was stopped: what it said
    log: str = ""
    digest: str = ""  # what the stage folder held when the grade began (see digest())
    remembered_summary: str = ""  # set on a verdict rebuilt from the progress file

    @property
    def passed(self) -> bool:
        return self.returncode == 0 and bool(self.checks) and all(check.passed for check in self.checks)

    @property
    def summary(self) -> str:
        if self.remembered_summary:
            return self.remembered_summary
        if self.error and not self.checks:
            return "grader error"
        return f"{sum(check.passed for check in self.checks)}/{len(self.checks)} checks pass"

    @property
    def first_failure(self) -> Check | None:
        failing = [check for check in self.checks if not check.passed]
        # A failed check is the root cause; the blocked ones after it only follow from it.
        return next((check for check in failing if check.outcome == "failed"), failing[0] if failing else None)


def read_report(stage: str, report: dict) -> list[Check]:
    """STAGE's checks in the grader's report (grader/report.py), or every check when none is STAGE's."""
    checks = [Check(stage=record.stage, title=record.check, status="passed" if record.passed else "failed",
                    outcome=record.outcome, output=record.output, sent=record.sent, got=record.got,
                    expected=record.expected, hint=record.hint, hint_topic=record.hint_topic or None,
                    score=record.score, max_score=record.max_score)
              for record in Report.from_json(report).checks if record.stage]
    return [check for check in checks if check.stage == stage] or checks


def grader_failure(report: dict) -> str:
    return "\n".join(note.output for note in Report.from_json(report).notes())


def digest(folder: Path) -> str:
    """A fingerprint of the stage folder's contents, stages.toml and the grader: same digest, same verdict.

    It lets `make hint` and `make solution` reuse the last verdict of files that did not
    change instead of grading them again.
    """
    sha = hashlib.sha256(STAGES_FILE.read_bytes())
    for path in sorted((ROOT / "grader").rglob("*.py")):
        sha.update(path.read_bytes())
    if folder.is_dir():
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                sha.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes() + b"\0")
    return sha.hexdigest()


class Grading:
    """One grader run in the background: start it, poll it, stop it at any moment without leftovers."""

    def __init__(self, stage: Stage, workdir: Path, timeout: float = GRADE_TIMEOUT) -> None:
        self.stage, self.workdir, self.timeout = stage, workdir, timeout
        self.folder = Path(tempfile.mkdtemp(prefix="workshop-grade-"))
        self.report, self.logfile = self.folder / "report.json", self.folder / "grader.log"
        self.digest = digest(workdir / stage.id)
        env = {**os.environ, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}
        with self.logfile.open("wb") as log:
            # Its own session: Ctrl+C in the watcher's terminal is the watcher's to handle,
            # and the watcher stops the grader with TERM, which the grader turns into a clean exit.
            self.process = subprocess.Popen(
                [sys.executable, "-m", "grader", stage.id, "--workdir", str(workdir), "--json", str(self.report)],
                cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                start_new_session=True,
            )
        self.started = time.monotonic()

    def done(self) -> bool:
        if self.process.poll() is None and time.monotonic() - self.started > self.timeout:
            self.stop()
        return self.process.poll() is not None

    def stop(self) -> None:
        """TERM first (the grader then stops its servers), KILL whatever is left after a grace period."""
        if self.process.poll() is None:
            try:
                self.process.send_signal(signal.SIGTERM)
                self.process.wait(timeout=20)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                pass
        kill_leftovers(self.process.pid)
        self.process.wait()

    def verdict(self) -> Verdict:
        log = self.logfile.read_text(errors="replace") if self.logfile.exists() else ""
        code = self.process.returncode
        try:
            report = json.loads(self.report.read_text())
        except (OSError, ValueError):
            report = None
        verdict = Verdict(self.stage.id, code, log=log, digest=self.digest)
        if report is None:
            verdict.error = f"the grader wrote no report (exit status {code}):\n{log[-3000:]}"
        else:
            verdict.checks = read_report(self.stage.id, report)
            failure = grader_failure(report)
            if failure or code not in (0, 1):
                verdict.error = failure or f"the grader stopped with exit status {code}:\n{log[-3000:]}"
        self.cleanup()
        return verdict

    def cleanup(self) -> None:
        for path in (self.report, self.logfile):
            path.unlink(missing_ok=True)
        try:
            self.folder.rmdir()
        except OSError:
            pass

    def wait(self) -> Verdict:
        try:
            while not self.done():
                time.sleep(0.05)
        except BaseException:
            self.stop()
            raise
        return self.verdict()


def grade(stage: Stage, workdir: Path) -> Verdict:
    """Grade one stage and wait for the verdict (Ctrl+C stops the grader and its servers)."""
    return Grading(stage, workdir).wait()


def kill_leftovers(grader_pid: int) -> None:
    """Kill the grader's descendants and every process carrying its GRADER_OWNER mark (a backstop)."""
    from grader import processes

    processes.kill(processes.descendants(grader_pid) + processes.carrying("GRADER_OWNER", str(grader_pid)), wait=5)


def is_solutions(workdir: Path) -> bool:
    return workdir.resolve() == SOLUTIONS.resolve()
