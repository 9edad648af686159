"""`make grade`: the grader exactly as `python -m grader ARGS` prints it, then a note in the progress file.

    python -m course.loop.grade [STAGE...] [--workdir DIR] [grader options]

Same output, same exit status (0 exactly when every check passes); the grader also
writes its JSON report, and each stage it graded is noted in the diary. The closing
message appears when the last stage passes.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from grader.report import Report
from grader.stages import EXERCISES, ROOT, load_stages, stage_by_id

from course.loop import common, screen
from course.loop.grading import Verdict, digest, is_solutions, read_report
from course.loop.state import Progress, state_path


def option(argv: list[str], name: str) -> str | None:
    for index, arg in enumerate(argv):
        if arg == name and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--list" in argv or "-h" in argv or "--help" in argv:
        return subprocess.call([sys.executable, "-m", "grader", *argv], cwd=ROOT)
    workdir = Path(option(argv, "--workdir") or EXERCISES).resolve()
    # What each stage folder holds as grading begins: the verdict is remembered for these contents.
    digests = {stage.id: digest(workdir / stage.id) for stage in load_stages()}
    mine = option(argv, "--json")
    with tempfile.TemporaryDirectory(prefix="workshop-grade-") as scratch:
        report_file = Path(mine) if mine else Path(scratch) / "report.json"
        command = [sys.executable, "-m", "grader", *argv] + ([] if mine else ["--json", str(report_file)])
        grader = subprocess.Popen(command)
        # Ctrl+C reaches the grader too (same terminal): let it stop its servers and say so.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, lambda *_: grader.send_signal(signal.SIGTERM))
        code = grader.wait()
        try:
            report = json.loads(report_file.read_text())
        except (OSError, ValueError):
            return code
    if code not in (0, 1):
        return code
    progress = Progress.load(state_path())
    console = screen.make_console()
    graded = Report.from_json(report).stages()
    for stage_id in graded:
        stage = stage_by_id(stage_id)
        checks = read_report(stage_id, report)
        passed = bool(checks) and all(check.passed for check in checks)
        verdict = Verdict(stage_id, 0 if passed else 1, checks, digest=digests.get(stage_id, ""))
        common.record(console, progress, workdir, stage, verdict)
    open_stage = next((stage_id for stage_id in graded if not progress.passed(stage_id)), None)
    if len(graded) > 1 and open_stage and not is_solutions(workdir):
        progress.data["current"] = open_stage  # the stage to work on next, not the last one graded
        progress.save()
    return code


if __name__ == "__main__":
    sys.exit(main())
