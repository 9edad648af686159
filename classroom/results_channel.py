"""Results a submission cannot forge: a pipe only the grader holds, and a grading that must look real.

The student's code runs beside the grader that grades it (its servers are the grader's children),
so a results *file* is a file the student can write: a submission could write full marks there
and kill the grader. Instead the grader writes its --json to /dev/fd/N, the write end of a pipe
that its parent reads and that no other process inherits (subprocess closes every other
descriptor in the servers it starts). Then the parent vets what came back: a grading that ended
by a signal, names checks that do not exist, or finished faster than its servers can start
earns nothing, and the gradebook says why.

    python -m classroom.results_channel STAGE...   prints the names of the checks those stages have (JSON)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

from grader.report import Report
from grader.stages import ROOT, Stage, stage_by_id

# A real grading starts the student's servers and the reference's and waits on each: a stage
# takes seconds, never this little (a forged report written at import time comes back in ~1 s).
FASTEST_STAGE_SECONDS = 1.0


class ResultsPipe:
    """A pipe for the grader's --json: hand `path` and `pass_fds` to the grader's process, then `report()`."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        self._chunks: list[bytes] = []
        self._reader = threading.Thread(target=self._drain, daemon=True)  # the report can outgrow the pipe
        self._reader.start()

    @property
    def path(self) -> str:
        return f"/dev/fd/{self._write}"

    @property
    def pass_fds(self) -> tuple[int, ...]:
        return (self._write,)

    def give_to(self, uid: int) -> None:
        """A pipe is its creator's (mode 0600): the grader, run as UID, must be able to open /dev/fd/N."""
        os.fchown(self._write, uid, uid)

    def started(self) -> None:
        """The grader's process has its copy of the write end: drop ours, so EOF comes when it exits."""
        if self._write >= 0:
            os.close(self._write)
            self._write = -1

    def _drain(self) -> None:
        with open(self._read, "rb", closefd=True) as reader:
            while chunk := reader.read(65536):
                self._chunks.append(chunk)

    def report(self, timeout: float = 10.0) -> dict | None:
        self.started()
        self._reader.join(timeout)
        try:
            report = json.loads(b"".join(self._chunks))
        except ValueError:
            return None
        return report if isinstance(report, dict) and isinstance(report.get("tests"), list) else None


def known_checks(stages: list[Stage]) -> set[str]:
    """The name of every check of STAGES, as the grader's --json writes them (collected, not run)."""
    done = subprocess.run([sys.executable, "-m", "classroom.results_channel", *[stage.id for stage in stages]],
                          cwd=ROOT, capture_output=True, text=True, timeout=180)
    if done.returncode != 0:
        raise RuntimeError(f"could not list the grader's checks: {done.stderr.strip()[-500:]}")
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def distrust(report: dict | None, returncode: int | None, seconds: float, stages: list[Stage],
             known: set[str] | None) -> str:
    """Why this report cannot be the grader's own ('' when nothing says so)."""
    if returncode is not None and (returncode < 0 or returncode > 128 and returncode not in (130, 143)):
        signal_number = -returncode if returncode < 0 else returncode - 128
        return f"the grading was killed (signal {signal_number}): its results, if any, were ignored"
    if report is None:
        return f"the grader ended with status {returncode} and wrote no results"
    ids = {stage.id for stage in stages}
    # The grader stands one entry in for a stage whose checks it never collected (GradingSession.scored_results).
    allowed = (known or set()) | {f"{stage_id}: the stage's checks" for stage_id in ids}
    records = Report.from_json(report).checks
    strange = [record.name for record in records if record.name != "grader" and (
        record.stage not in ids or (known is not None and record.name not in allowed))]
    if strange:
        return f"the results name checks that do not exist ({strange[0]!r}): they were ignored"
    if seconds < FASTEST_STAGE_SECONDS * len(stages) and any(test.get("score") for test in report["tests"]):
        return (f"the grading took {seconds:.1f} s, faster than its servers can start: "
                "its results were ignored")
    return ""


def _list_checks(stage_ids: list[str]) -> list[str]:
    import pytest

    from grader.session import GradingSession, run_pytest
    from grader.stages import stage_of_checks

    names: list[str] = []

    class Collector:
        @pytest.hookimpl(trylast=True)
        def pytest_collection_modifyitems(self, items):
            names.extend(f"{stage_of_checks(item.path).id}: {GradingSession.title_of(item)}" for item in items)

    stages = [stage_by_id(name) for name in stage_ids]
    with open(os.devnull, "w") as quiet:
        sys.stdout, real = quiet, sys.stdout
        try:
            run_pytest([str(stage.checks_file) for stage in stages] + [
                "--collect-only", "-q", "-p", "no:cacheprovider", "--disable-plugin-autoload",
                "--rootdir", str(stages[0].checks_file.parent), "-o", "addopts=", "-o", "testpaths="],
                plugins=[Collector()])
        finally:
            sys.stdout = real
    return names


if __name__ == "__main__":
    print(json.dumps(_list_checks(sys.argv[1:])))
