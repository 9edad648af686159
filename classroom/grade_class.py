"""Grade a whole class: in parallel, each student in a box of its own.

    python -m classroom SUBMISSIONS [--out DIR] [--jobs N] [--stage STAGE ...]

SUBMISSIONS holds one folder per student, each laid out like exercises/ (one
sub-folder per stage), or any layout the Gradescope adapter accepts (an exercises/
folder, also one level down; stage numbers; for one stage, its files); a folder
that cannot be laid out gets a note. --student NAME regrades one student and
merges it into the existing gradebook. Each student is graded in a temporary copy of its folder,
by its own grader process (`python -m grader --workdir COPY --json FILE`), inside
a box (classroom/sandbox.py): loopback-only network, read-only files but the copy,
a throwaway user, limits on time, CPU, memory and processes; the reference servers
run apart, as another user, and the box cannot read solutions/. N students are
graded at once (default: two per core). A submission that hangs costs its time
limit, and never holds up the others.

DIR (default: SUBMISSIONS/../results) receives:
    <student>.json   Gradescope-style results, one per student
    feedback/<student>.txt  what to hand back: points per stage, failed checks, what came back
    gradebook.csv    one row per student: each stage's points, the total (--lms-ids: an lms_id column)
    summary.png      the score distribution and the checks failed most often
    report.html      all of it in one file that opens in any browser, offline, with the pass
                     rate of every stage and every check across the class
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

from pathlib import Path

from classroom import report as class_report
from classroom.graded import Graded
from grader.report import stage_of
from classroom.gradescope import lay_out, nothing_found
from classroom.results_channel import ResultsPipe, distrust, known_checks
from classroom.sandbox import Isolation, Limits, detect, new_box, run_boxed, stop_every_box
from grader.stages import ROOT, Stage, stages_named


def stage_points(report: dict, stages: list[Stage]) -> dict[str, float]:
    points = {stage.id: 0.0 for stage in stages}
    for test in report.get("tests", []):
        stage_id = stage_of(test)
        if stage_id in points:
            points[stage_id] += float(test.get("score", 0))
    return {stage_id: round(value, 2) for stage_id, value in points.items()}


def stand_in_report(stages: list[Stage], why: str) -> dict:
    """What a student gets when its grader wrote nothing usable: zero, and why."""
    return {"score": 0, "max_score": sum(stage.points for stage in stages),
            "tests": [{"name": "grader", "score": 0, "max_score": 0, "status": "failed", "output": why}]}


def grade_student(folder: Path, work: Path, stages: list[Stage], limits: Limits,
                  isolation: Isolation, known: set[str] | None = None, hide: tuple[Path, ...] = ()) -> Graded:
    """Copy FOLDER into WORK, grade the copy in a box, and return the report."""
    try:
        return _grade_in_a_box(folder, work, stages, limits, isolation, known, hide)
    except KeyboardInterrupt:
        raise
    except Exception as error:  # one student's odd folder must not stop the class
        note = f"not graded: {type(error).__name__}: {error}"
        return Graded(folder.name, stand_in_report(stages, note), 0.0, note, {stage.id: 0.0 for stage in stages})


def _grade_in_a_box(folder: Path, work: Path, stages: list[Stage], limits: Limits,
                    isolation: Isolation, known: set[str] | None = None, hide: tuple[Path, ...] = ()) -> Graded:
    # Laid out as the Gradescope adapter lays a submission out (exercises/, nested, stage numbers, ...).
    staging = work.parent / f"{work.name}-laid-out"
    staging.mkdir()
    try:
        if not lay_out(folder, stages, staging):
            note = "not graded: " + nothing_found(stages)
            report = {**stand_in_report(stages, note), "output": note}
            return Graded(folder.name, report, 0.0, note, {stage.id: 0.0 for stage in stages})
        # The reference runs apart, as a user of its own: the student's code cannot read the solutions.
        box = new_box(work, isolation, staging, reference=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    # The report comes back through a pipe the box cannot reopen once the grader is gone, never
    # through a file: the student's code runs beside the grader and could write any file the grader can.
    pipe = ResultsPipe()
    if box.uid is not None:
        pipe.give_to(box.uid)
    command = [sys.executable, "-m", "grader", *[stage.id for stage in stages], "--workdir", str(box.copy),
               "--json", pipe.path, "--summary"] + (["--reference", str(box.reference)] if box.reference else [])
    # The box sees neither the class's submissions, nor the results, nor the other boxes: only its own copy.
    outcome = run_boxed(command, box, limits, isolation, log=work / "output.log", pass_fds=pipe.pass_fds,
                        hide=hide)
    report = pipe.report()
    note = ""
    if outcome.timed_out:
        note = f"stopped at the time limit ({limits.wall:g} s): the submission hangs or is far too slow"
    else:
        note = distrust(report, outcome.returncode, outcome.seconds, stages, known)
    if note:
        report = stand_in_report(stages, note + ".\n\nLast output:\n" + outcome.output[-2000:])
    report["execution_time"] = round(outcome.seconds, 2)
    if note:
        report["output"] = note
    return Graded(folder.name, report, outcome.seconds, note, stage_points(report, stages))


def check_the_box(isolation: Isolation, limits: Limits) -> Isolation:
    """Can the throwaway user read the grader? If not, say so and keep the rest of the box."""
    if not isolation.user:
        return isolation
    work = Path(tempfile.mkdtemp(prefix="grade-class-check-"))
    try:
        work.chmod(0o711)
        box = new_box(work / "box", isolation)
        tried = run_boxed([sys.executable, "-c", "import grader.cli, pytest, uvicorn"], box,
                          Limits(wall=60, memory=limits.memory), isolation, log=work / "log")
        if tried.returncode == 0:
            return isolation
        said = (tried.output.strip().splitlines() or ["(no output)"])[-1]
        return Isolation(isolation.namespaces, False, isolation.missing + (
            f"a throwaway user per student: it could not import the grader from {ROOT} ({said}); is a folder on "
            "the way closed to other users? Students run as you, inside the rest of the box",))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def default_jobs() -> int:
    """Students graded at once: two per core. A grading waits much of its time (for its servers to start,
    and a hanging submission for the grader's own time limits, 10-30 s of idle CPU), so one per core leaves
    cores idle. Measured on 2 cores (a generated class of 100, `python -m bench.classroom -n 100`):
    390 s at 2 at a time, 359 s at 3, 323 s at 4, every grade the same as the student's plain grading."""
    return 2 * (os.cpu_count() or 1)


ACCEPT_FLAG = "--accept-weak-isolation"


class WeakIsolation(RuntimeError):
    """The box is not whole here, and nobody said student code may run with less."""


def refusal(isolation: Isolation) -> str:
    return (isolation.describe() + "\n\nRefusing to grade untrusted code without full isolation (its own namespaces "
            "and a throwaway user): a submission could read your files, reach your network, or change other "
            f"students' results. Run as root on Linux with util-linux `unshare`, or pass {ACCEPT_FLAG} "
            "(make grade-class ACCEPT_WEAK_ISOLATION=1) to grade anyway, accepting that risk.")


def earlier_grades(out: Path, stages: list[Stage], skip: set[str]) -> list[Graded]:
    """The students graded before into OUT (their <student>.json), but for SKIP: a regrade merges with them."""
    earlier = []
    for path in sorted(out.glob("*.json")):
        if path.stem in skip:
            continue
        try:
            report = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(report, dict) and isinstance(report.get("tests"), list):
            note = report.get("output", "") if isinstance(report.get("output"), str) else ""
            earlier.append(Graded(path.stem, report, float(report.get("execution_time", 0)), note,
                                  stage_points(report, stages)))
    return earlier


def read_lms_ids(path: Path | None) -> dict[str, str]:
    """A CSV with the columns student (the folder's name) and lms_id: the gradebook's column for the LMS."""
    if path is None:
        return {}
    with path.open(newline="", encoding="utf-8") as handle:
        return {row["student"].strip(): row.get("lms_id", "").strip() for row in csv.DictReader(handle)}


def grade_class(submissions: Path, out: Path, stages: list[Stage], jobs: int, limits: Limits,
                isolation: Isolation | None = None, progress=print,
                accept_weak_isolation: bool = False, only: list[str] | None = None,
                lms_ids: dict[str, str] | None = None) -> list[Graded]:
    students = sorted(path for path in submissions.iterdir()
                      if path.is_dir() and not path.name.startswith(".") and path.resolve() != out.resolve())
    if only:  # a regrade of some students: the others keep their grades from OUT
        unknown = sorted(set(only) - {path.name for path in students})
        if unknown:
            raise KeyError(f"no such student folder in {submissions}: {', '.join(unknown)}")
        students = [path for path in students if path.name in only]
    isolation = check_the_box(isolation or detect(), limits)
    if not (isolation.namespaces and isolation.user):
        if not accept_weak_isolation:
            raise WeakIsolation(refusal(isolation))
        progress(f"WARNING: grading with weak isolation, as {ACCEPT_FLAG} asked")
    progress(isolation.describe())
    progress(f"grading {len(students)} students, {jobs} at a time, "
             f"stages {', '.join(stage.id for stage in stages)}\n")
    out.mkdir(parents=True, exist_ok=True)
    known = known_checks(stages)  # a report naming any other check was not written by the grader
    work = Path(tempfile.mkdtemp(prefix="grade-class-"))
    work.chmod(0o711)
    graded: list[Graded] = []
    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        hide = (submissions, out, work)
        futures = [pool.submit(grade_student, folder, work / str(index), stages, limits, isolation, known, hide)
                   for index, folder in enumerate(students)]
        for future in as_completed(futures):
            result = future.result()
            (out / f"{result.student}.json").write_text(json.dumps(result.report, indent=2))
            graded.append(result)
            progress(f"graded {result.student}: {result.score:g}/{result.max_score:g} "
                     f"in {result.seconds:.1f} s" + (f" ({result.note})" if result.note else ""))
    except BaseException:  # Ctrl+C: stop the running boxes now rather than wait for their limits
        stop_every_box()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True)
        shutil.rmtree(work, ignore_errors=True)
    if only:
        graded += earlier_grades(out, stages, {result.student for result in graded})
    graded.sort(key=lambda result: result.student)
    class_report.write_all(graded, stages, out, isolation.describe(), lms_ids or {})
    return graded


def table(graded: list[Graded], stages: list[Stage]) -> str:
    lines = [f"{'student':<24} {'score':>12} {'time':>7}  " + "  ".join(stage.number for stage in stages)]
    for result in graded:
        cells = []
        for stage in stages:
            got = result.stages.get(stage.id, 0)
            cells.append("ok" if got >= stage.points - 1e-6 else f"{got:g}")
        lines.append(f"{result.student:<24} {result.score:>5g}/{result.max_score:<6g} {result.seconds:6.1f}s  "
                     + "  ".join(cells))
    return "\n".join(lines)


def _interrupt(*_) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m classroom", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("submissions", type=Path)
    parser.add_argument("--out", type=Path, help="where the results go (default: SUBMISSIONS/../results)")
    parser.add_argument("--stage", action="append", default=[],
                        help="grade only these stages (repeat, or separate with commas or spaces)")
    parser.add_argument("--jobs", type=int, default=default_jobs(),
                        help="students graded at once (default: two per core)")
    defaults = Limits()
    parser.add_argument(ACCEPT_FLAG, action="store_true",
                        help="grade even where the full box is not available (student code then runs with "
                             "your rights and your network): only for code you trust")
    parser.add_argument("--student", action="append", default=[],
                        help="grade only these students (repeat); the gradebook keeps the others' grades")
    parser.add_argument("--lms-ids", type=Path, help="CSV with columns student,lms_id: adds an lms_id column")
    parser.add_argument("--time-limit", type=float, default=defaults.wall, help="seconds per student (wall time)")
    parser.add_argument("--cpu-limit", type=int, default=defaults.cpu, help="CPU seconds per process")
    parser.add_argument("--memory-limit", type=int, default=defaults.memory // 2 ** 20, help="MiB per process")
    parser.add_argument("--process-limit", type=int, default=defaults.processes,
                        help="processes and threads per student")
    options = parser.parse_args(argv)
    if not options.submissions.is_dir():
        print(f"no such folder: {options.submissions}", file=sys.stderr)
        return 2
    try:
        stages = stages_named(options.stage)
    except KeyError as error:
        print(error.args[0], file=sys.stderr)
        return 2
    if not any(path.is_dir() and not path.name.startswith(".") for path in options.submissions.iterdir()):
        print(f"no student folders in {options.submissions}", file=sys.stderr)
        return 2
    out = options.out or options.submissions.resolve().parent / "results"
    limits = Limits(wall=options.time_limit, cpu=options.cpu_limit, memory=options.memory_limit * 2 ** 20,
                    processes=options.process_limit)
    started = time.monotonic()
    # Ctrl+C or a TERM (a closed terminal, a CI timeout): every box is killed, none starts.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        graded = grade_class(options.submissions.resolve(), out.resolve(), stages, max(1, options.jobs), limits,
                             accept_weak_isolation=options.accept_weak_isolation, only=options.student,
                             lms_ids=read_lms_ids(options.lms_ids))
    except KeyError as error:
        print(error.args[0], file=sys.stderr)
        return 2
    except WeakIsolation as refused:
        print(refused, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: every box stopped; no gradebook written", file=sys.stderr)
        return 130
    print("\n" + table(graded, stages))
    print(f"\n{len(graded)} students graded in {time.monotonic() - started:.1f} s; results in {out}:")
    print("  gradebook.csv, report.html (open it in a browser), summary.png, one JSON per student")
    return 0


if __name__ == "__main__":
    sys.exit(main())
