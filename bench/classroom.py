"""How long grading a class takes, beside the floor.

    python -m bench.classroom [-n 20] [--jobs N] [--stage 01-middleware]   (`make bench-class N=20`)

It generates a class of N submissions, a realistic mix (MIX): solutions, untouched
starters, broken code and code that hangs, each kind cycling through its variants
(the broken ones are bench.run's BROKEN edits and tests/broken/ fixtures).
The mix is the same for the same N. It grades them as `make grade-class` does
(boxes, JOBS at a time) and prints the wall time beside the floor.

The floor is what a class cannot avoid: one plain grading (no box) of each variant,
times how many students hand that variant in, summed, divided by JOBS; or, when
larger, the CPU time of those gradings divided by the cores (more workers than
cores share them). The ratio is what the boxes, the copies and sharing the cores cost. Every student's grade is
compared with its variant's plain grading: a faster class that grades differently
is not faster. Not a test: `make bench` territory.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import Counter
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

from bench.submissions import BROKEN, FIXTURES, copy_stage, edited_solution, fixture, hangs_at_import
from classroom.grade_class import default_jobs, grade_class
from classroom.sandbox import Limits
from grader.stages import EXERCISES, ROOT, SOLUTIONS, Stage, stage_by_id

# The share of each kind in a generated class (a class of 100 has 40 solutions, ...).
MIX = (("solution", 0.4), ("starter", 0.3), ("broken", 0.2), ("hanging", 0.1))
KINDS = tuple(kind for kind, _ in MIX)


@dataclass(frozen=True)
class Variant:
    """One kind of submission: KIND (solution, starter, broken, hanging) and what it is."""

    kind: str
    name: str
    fill: Callable[[Path], None]  # writes the stage's folder, FOLDER/<stage id>

    @property
    def label(self) -> str:
        return self.kind if self.name == self.kind else f"{self.kind}: {self.name}"


def counts(size: int) -> dict[str, int]:
    """How many of each kind a class of SIZE holds: MIX's shares, rounded by the largest remainder."""
    exact = {kind: share * size for kind, share in MIX}
    whole = {kind: math.floor(value) for kind, value in exact.items()}
    left = size - sum(whole.values())
    for kind in sorted(KINDS, key=lambda kind: (-(exact[kind] - whole[kind]), KINDS.index(kind)))[:left]:
        whole[kind] += 1
    return whole


# -- the variants: each one writes a stage folder --------------------------------------------------------


def variants(stage: Stage) -> dict[str, list[Variant]]:
    """Each kind's variants for STAGE, in the order a class cycles through them."""
    plain = {"solution": [Variant("solution", "solution", partial(lambda s, f: copy_stage(SOLUTIONS / s.id, f / s.id), stage))],
             "starter": [Variant("starter", "starter", partial(lambda s, f: copy_stage(EXERCISES / s.id, f / s.id), stage))]}
    if stage.id == "01-middleware":
        edit = lambda name: partial(edited_solution, stage, BROKEN[name])  # noqa: E731
        broken = [Variant("broken", "a syntax error", edit("a syntax error")),
                  Variant("broken", "a server that never binds", edit("a server that never binds")),
                  Variant("broken", "lets everyone in", partial(fixture, stage, "lets-everyone-in")),
                  Variant("broken", "no challenge", partial(fixture, stage, "no-challenge"))]
        hanging = [Variant("hanging", "an import that hangs", edit("an import that hangs")),
                   Variant("hanging", "a request that blocks", edit("a request that blocks"))]
    else:  # the stage's own mistakes (tests/broken/STAGE, not the alternatives or the attacks), and a hang
        cases = sorted(path.name.removesuffix(".toml") for path in (FIXTURES / stage.id).glob("*")
                       if not path.name.startswith(("alt-", "attack-", ".")))
        broken = [Variant("broken", case.replace("-", " "), partial(fixture, stage, case)) for case in cases[:4]]
        hanging = [Variant("hanging", "an import that hangs", partial(edited_solution, stage, partial(hangs_at_import, stage)))]
    return {**plain, "broken": broken, "hanging": hanging}


def plan(size: int, stage: Stage) -> list[Variant]:
    """The class of SIZE, in student order: each kind's count cycles through its variants, and a
    fixed shuffle mixes the kinds as a class list does (the same N gives the same class)."""
    kinds = variants(stage)
    chosen = [kinds[kind][index % len(kinds[kind])] for kind, count in counts(size).items() for index in range(count)]
    random.Random(f"class-of-{size}").shuffle(chosen)
    return chosen


def generate(folder: Path, size: int, stage_id: str) -> dict[str, Variant]:
    """Write the class into FOLDER (student-000/<stage>/...); each student's variant."""
    stage = stage_by_id(stage_id)
    students = {}
    for index, variant in enumerate(plan(size, stage)):
        name = f"student-{index:03}"
        variant.fill(folder / name)
        students[name] = variant
    return students


# -- the floor: one plain grading of each variant --------------------------------------------------------


@dataclass
class Solo:
    seconds: float  # wall time
    cpu: float      # CPU seconds of the grader and every process it started
    score: float


def plain_grading(stage: Stage, variant: Variant, scratch: Path) -> Solo:
    """`python -m grader STAGE` on one submission of VARIANT, outside any box: time and score."""
    workdir = scratch / f"solo-{len(list(scratch.iterdir()))}"
    variant.fill(workdir)
    results = workdir / "results.json"
    used, started = _children_cpu(), time.perf_counter()
    subprocess.run([sys.executable, "-m", "grader", stage.id, "--workdir", str(workdir), "--json", str(results),
                    "--summary"], cwd=ROOT, capture_output=True, check=False, env={**os.environ, "NO_COLOR": "1"})
    took, cpu = time.perf_counter() - started, _children_cpu() - used
    try:
        score = float(json.loads(results.read_text())["score"])
    except (OSError, ValueError, KeyError):
        score = float("nan")
    return Solo(took, cpu, score)


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def class_floor(solos: dict[str, Solo], how_many: Counter, jobs: int) -> float:
    """Seconds a class cannot go below on JOBS workers: every student's plain grading shared out over the
    workers, and (more workers than cores sharing the cores) every student's CPU time over the cores."""
    wall = sum(solos[label].seconds * count for label, count in how_many.items()) / jobs
    cpu = sum(solos[label].cpu * count for label, count in how_many.items()) / (os.cpu_count() or 1)
    return max(wall, cpu)


# -- the run ---------------------------------------------------------------------------------------------


def bench(count: int, jobs: int, stage_id: str = "01-middleware", quiet: bool = True) -> dict:
    stage = stage_by_id(stage_id)
    with tempfile.TemporaryDirectory(prefix="classroom-bench-") as scratch:
        scratch = Path(scratch)
        students = generate(scratch / "class", count, stage.id)
        kinds = variants(stage)
        by_label = {variant.label: variant for group in kinds.values() for variant in group}
        how_many = Counter(variant.label for variant in students.values())
        (scratch / "solo").mkdir()
        solos = {label: plain_grading(stage, by_label[label], scratch / "solo") for label in how_many}
        started = time.perf_counter()
        # Generated submissions, not a student's: the benchmark runs where the full box is not available too.
        graded = grade_class(scratch / "class", scratch / "results", [stage], jobs, Limits(),
                             progress=(lambda *_: None) if quiet else print, accept_weak_isolation=True)
        took = time.perf_counter() - started
    rows = [{"student": result.student, "label": students[result.student].label,
             "kind": students[result.student].kind, "seconds": result.seconds, "score": result.score,
             "solo_score": solos[students[result.student].label].score, "note": result.note} for result in graded]
    differ = [row for row in rows if not math.isclose(row["score"], row["solo_score"], abs_tol=1e-6)]
    floor = class_floor(solos, how_many, jobs)
    result = {"students": len(graded), "jobs": jobs, "stage": stage.id, "seconds": took, "floor": floor,
              "ratio": took / floor if floor else float("nan"), "rows": rows, "differ": differ,
              "mix": dict(how_many), "solo": {label: vars(solo) for label, solo in solos.items()},
              "per_kind": per_kind(rows, solos, students)}
    result["projected_100"], result["projection"] = project_to_100(result, stage, solos, jobs)
    return result


def per_kind(rows: list[dict], solos: dict[str, Solo], students: dict[str, Variant]) -> list[dict]:
    """Per variant: how many, the median seconds each took in its box, its plain grading."""
    table = []
    for label in dict.fromkeys(variant.label for variant in sorted(students.values(), key=lambda v: KINDS.index(v.kind))):
        seconds = [row["seconds"] for row in rows if row["label"] == label]
        table.append({"label": label, "count": len(seconds), "median": statistics.median(seconds),
                      "solo": solos[label].seconds, "solo_cpu": solos[label].cpu, "score": solos[label].score})
    return table


def project_to_100(result: dict, stage: Stage, solos: dict[str, Solo], jobs: int) -> tuple[float, str]:
    """A class of 100 at this run's pace: its floor times this run's ratio to the floor, when every
    variant of a class of 100 was measured; else (a small class) simply per student. Both overstate a
    little: a small class pays its start (every worker starting at once) and its tail over fewer students."""
    if result["students"] >= 100:
        return result["seconds"], "measured"
    hundred = Counter(variant.label for variant in plan(100, stage))
    if all(label in solos for label in hundred):
        return class_floor(solos, hundred, jobs) * result["ratio"], "this run's ratio to the floor, on a class of 100's floor"
    per_student = result["seconds"] / max(1, result["students"])
    return per_student * 100, ("rough: seconds per student x 100, which overstates: this class lacks some kinds of "
                               "a class of 100, its first students all start at once and its last finish alone")


def describe(result: dict, projection: bool = True) -> str:
    lines = [f"{result['students']} students ({', '.join(f'{n} {k}' for k, n in Counter(r['kind'] for r in result['rows']).items())}), "
             f"{result['jobs']} at a time: {result['seconds']:.1f} s; floor {result['floor']:.1f} s; "
             f"{result['ratio']:.2f}x the floor",
             f"{'submission':<40} {'count':>5} {'median s in box':>16} {'plain s':>8} {'plain CPU s':>11} "
             f"{'solo score':>10}"]
    for row in result["per_kind"]:
        lines.append(f"{row['label']:<40} {row['count']:>5} {row['median']:>16.1f} {row['solo']:>8.1f} "
                     f"{row['solo_cpu']:>11.1f} {row['score']:>10g}")
    if projection and result["students"] < 100:
        lines.append(f"a class of 100: about {result['projected_100']:.0f} s ({result['projection']}); "
                     f"NOT measured: run -n 100 for the real figure")
    if result["differ"]:
        lines.append("GRADES DIFFER from the plain grading: " + "; ".join(
            f"{row['student']} ({row['label']}) {row['score']:g} vs {row['solo_score']:g} {row['note']}"
            for row in result["differ"]))
    else:
        lines.append("every student's grade equals its submission's plain grading")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.classroom", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=20, help="how many submissions (default 20)")
    parser.add_argument("--jobs", type=int, default=default_jobs(), help="students graded at once (default: two per core, as make grade-class)")
    parser.add_argument("--stage", default="01-middleware")
    parser.add_argument("--progress", action="store_true", help="print each student as it is graded")
    options = parser.parse_args(argv)
    result = bench(options.n, max(1, options.jobs), options.stage, quiet=not options.progress)
    print(describe(result))
    return 0 if not result["differ"] else 1


if __name__ == "__main__":
    sys.exit(main())
