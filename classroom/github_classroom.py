"""Report the grader's points to GitHub Classroom.

    python -m grader --json results.json; python -m classroom.github_classroom results.json >> "$GITHUB_OUTPUT"

Classroom's grading reporter (classroom-resources/autograding-grading-reporter)
reads, for each runner id R, an environment variable R_RESULTS (upper case):
base64 of a JSON object with `max_score` and `tests`, each test with `name`,
`status` ("pass" or "fail"), `score` and `message`. It adds up the tests' scores
and records the total out of max_score as the student's points.

One environment string is capped at 128 KiB on Linux (E2BIG), so the payload has one
test per stage with a one-line message (a few KiB whatever the submission); the
workflow keeps the grader's full results.json as the run's artifact. A stage's
points are rounded down to a quarter so that the reporter's sum is exact.
.github/workflows/classroom.yml wires it up with one runner, `grader`.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

from grader.stage_summary import by_stage, grader_notes, shorten, stage_of
from grader.stages import Stage, stages_named


# The reporter adds the tests' scores in floating point: quarters add up exactly, hundredths do not
# (0.1 + 0.2 prints 0.30000000000000004). A stage's points are rounded down to a quarter, never up.
STEP = Decimal("0.25")
MESSAGE_LIMIT = 400  # characters per test: the whole payload stays a few KiB, far below the 128 KiB of one variable


def quarter(value: Decimal) -> Decimal:
    return (value / STEP).to_integral_value(ROUND_DOWN) * STEP


def classroom_result(report: dict | None, stages: list[Stage]) -> dict:
    """One test per stage (points, a one-line message); the checks' full output goes in the run's artifact."""
    max_score = sum(stage.points for stage in stages)
    if report is None:
        return {"version": 1, "status": "error", "max_score": max_score,
                "tests": [{"name": "grader", "status": "fail", "score": 0, "line_no": 0, "execution_time": "",
                           "message": "the grader wrote no results (see the step's log)"}]}
    tests = [{"name": str(note.get("name", "grader")), "status": "fail", "score": 0, "line_no": 0,
              "execution_time": "", "message": shorten(str(note.get("output") or ""), MESSAGE_LIMIT)}
             for note in grader_notes(report, stages)]
    for summary in by_stage(report, stages):
        points = summary.stage.points if summary.passed else quarter(summary.score)
        tests.append({"name": f"{summary.stage.id}: {summary.stage.title}",
                      "status": "pass" if summary.passed else "fail", "score": _number(points),
                      "message": summary.message(MESSAGE_LIMIT), "line_no": 0, "execution_time": ""})
    crashed = any(test["name"] == "grader" for test in tests)
    status = "error" if crashed else ("pass" if all(test["status"] == "pass" for test in tests) else "fail")
    return {"version": 1, "status": status, "max_score": _number(max_score), "tests": tests}


def _number(value) -> int | float:
    value = Decimal(str(value))
    return int(value) if value == value.to_integral_value() else float(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m classroom.github_classroom", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", type=Path, help="the grader's --json file")
    parser.add_argument("--name", default="result", help="the step output's name (default: result)")
    parser.add_argument("--stage", action="append", default=[], help="the stages graded (default: those in the results)")
    options = parser.parse_args(argv)
    try:
        report = json.loads(options.results.read_text())
    except (OSError, ValueError):
        report = None
    stages = stages_named(options.stage)
    if report is not None:  # grade only what the report graded (STAGES in the workflow)
        graded = {stage_of(test) for test in report.get("tests", []) if isinstance(test, dict)}
        stages = [stage for stage in stages if stage.id in graded] or stages
    result = classroom_result(report, stages)
    encoded = base64.b64encode(json.dumps(result).encode()).decode()
    print(f"{options.name}={encoded}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
