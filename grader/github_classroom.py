"""Report the grader's points to GitHub Classroom.

    python -m grader --json results.json; python -m grader.github_classroom results.json >> "$GITHUB_OUTPUT"

Classroom's grading reporter (classroom-resources/autograding-grading-reporter)
reads, for each runner id R, an environment variable R_RESULTS (upper case):
base64 of a JSON object with `max_score` and `tests`, each test with `name`,
`status` ("pass" or "fail"), `score` and `message`. It adds up the tests' scores
and records the total out of max_score as the student's points.
.github/workflows/classroom.yml wires it up with one runner, `grader`.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path

from grader.stages import load_stages


def classroom_result(report: dict | None, max_score: float) -> dict:
    if report is None:
        return {"version": 1, "status": "error", "max_score": max_score,
                "tests": [{"name": "grader", "status": "fail", "score": 0,
                           "message": "the grader wrote no results (see the step's log)"}]}
    tests = [{"name": test["name"], "status": "pass" if test["status"] == "passed" else "fail",
              "score": test.get("score", 0), "message": test.get("output") or "", "line_no": 0,
              "execution_time": ""} for test in report.get("tests", [])]
    crashed = any(test["name"] == "grader" and test["status"] != "passed" for test in report.get("tests", []))
    status = "error" if crashed else ("pass" if all(test["status"] == "pass" for test in tests) else "fail")
    return {"version": 1, "status": status, "max_score": report.get("max_score", max_score), "tests": tests}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.github_classroom", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", type=Path, help="the grader's --json file")
    parser.add_argument("--name", default="result", help="the step output's name (default: result)")
    options = parser.parse_args(argv)
    try:
        report = json.loads(options.results.read_text())
    except (OSError, ValueError):
        report = None
    result = classroom_result(report, sum(stage.points for stage in load_stages()))
    encoded = base64.b64encode(json.dumps(result).encode()).decode()
    print(f"{options.name}={encoded}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
