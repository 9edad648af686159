"""How long grading a class takes, beside the floor.

    python -m grader.classroom_bench [-n 20] [--jobs N] [--stage 01]   (`make bench-class N=20`)

It generates N submissions (solutions and untouched starters, alternately),
grades them as `make grade-class` does (boxes, JOBS at a time), and prints the
wall time beside the floor: one plain grading of one submission (no box), times
the rounds N students need on JOBS workers. The ratio is what the boxes, the
copies and sharing the cores cost. Not a test: `make bench` territory.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from grader.classroom import grade_class
from grader.sandbox import Limits
from grader.stages import EXERCISES, ROOT, SOLUTIONS, stage_by_id


def generate(folder: Path, count: int, stage_id: str) -> Path:
    for index in range(count):
        source = SOLUTIONS if index % 2 == 0 else EXERCISES
        shutil.copytree(source / stage_id, folder / f"student-{index:03}" / stage_id,
                        ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def one_plain_grading(stage_id: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "grader", stage_id, "--workdir", str(SOLUTIONS)], cwd=ROOT,
                   capture_output=True, check=False)
    return time.perf_counter() - started


def bench(count: int, jobs: int, stage_id: str = "01-middleware", quiet: bool = True) -> dict:
    stage = stage_by_id(stage_id)
    with tempfile.TemporaryDirectory(prefix="classroom-bench-") as scratch:
        submissions = generate(Path(scratch) / "class", count, stage.id)
        single = one_plain_grading(stage.id)
        started = time.perf_counter()
        graded = grade_class(submissions, Path(scratch) / "results", [stage], jobs, Limits(),
                             progress=(lambda *_: None) if quiet else print)
        took = time.perf_counter() - started
    floor = single * math.ceil(count / jobs)
    return {"students": len(graded), "jobs": jobs, "seconds": took, "single": single, "floor": floor,
            "ratio": took / floor if floor else float("nan")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.classroom_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=20, help="how many submissions (default 20)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--stage", default="01-middleware")
    options = parser.parse_args(argv)
    result = bench(options.n, max(1, options.jobs), options.stage)
    print(f"{result['students']} students, {result['jobs']} at a time: {result['seconds']:.1f} s; "
          f"floor {result['floor']:.1f} s (one plain grading {result['single']:.1f} s x "
          f"{math.ceil(result['students'] / result['jobs'])} rounds); {result['ratio']:.1f}x the floor")
    return 0


if __name__ == "__main__":
    sys.exit(main())
