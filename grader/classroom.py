"""Grade a whole class in one command.

    python -m grader.classroom SUBMISSIONS [--out DIR] [--stage STAGE ...]

SUBMISSIONS holds one folder per student, each laid out like exercises/. Each
student is graded by its own grader process (one student's code can never
disturb another's grading); the results go to DIR/<student>.json
(Gradescope-style) and a table sums them up.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from grader.stages import ROOT, load_stages


def grade_student(folder: Path, out: Path, stages: list[str]) -> dict:
    report = out / f"{folder.name}.json"
    subprocess.run([sys.executable, "-m", "grader", *stages, "--workdir", str(folder), "--json", str(report),
                    "--summary"], cwd=ROOT, capture_output=True, text=True)
    return json.loads(report.read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.classroom", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("submissions", type=Path)
    parser.add_argument("--out", type=Path, help="where the JSON results go (default: SUBMISSIONS/../results)")
    parser.add_argument("--stage", action="append", default=[], help="grade only these stages")
    options = parser.parse_args(argv)
    students = sorted(path for path in options.submissions.iterdir() if path.is_dir())
    if not students:
        print(f"no student folders in {options.submissions}", file=sys.stderr)
        return 2
    out = options.out or options.submissions.parent / "results"
    out.mkdir(parents=True, exist_ok=True)
    stage_ids = options.stage or [stage.id for stage in load_stages()]
    print(f"{'student':<24} {'score':>12}  " + "  ".join(stage_id[:2] for stage_id in stage_ids))
    for index, folder in enumerate(students, 1):
        report = grade_student(folder, out, options.stage)
        cells = []
        for stage_id in stage_ids:
            mine = [test for test in report["tests"] if test["name"].startswith(stage_id + ":")]
            passed = sum(test["status"] == "passed" for test in mine)
            cells.append("ok" if mine and passed == len(mine) else f"{passed}/{len(mine)}")
        print(f"{folder.name:<24} {report['score']:>5g}/{report['max_score']:<6g}  " + "  ".join(cells),
              flush=True)
    print(f"\n{len(students)} students graded; results in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
