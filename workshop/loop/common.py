"""What every loop command shares: where the student's work is, where the progress file is."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from grader.stages import EXERCISES, Stage, load_stages, stage_by_id

from workshop.loop import screen
from workshop.loop.grading import Verdict, is_solutions
from workshop.loop.state import Progress, now, state_path


def parser(prog: str, doc: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path(os.environ.get("WORKSHOP_WORKDIR", EXERCISES)),
                        help="the folder laid out like exercises/ (default: exercises)")
    parser.add_argument("--state", type=Path, default=None,
                        help="the progress file (default: $WORKSHOP_STATE or .workshop/progress.json)")
    return parser


def load(options: argparse.Namespace) -> tuple[Path, Progress]:
    return options.workdir.resolve(), Progress.load(state_path(options.state))


def pick_stage(name: str | None, what: str) -> Stage:
    if not name:
        raise SystemExit(f"Say which stage: make {what} STAGE=01 (`make stages` lists them).")
    try:
        return stage_by_id(name)
    except KeyError as error:
        raise SystemExit(error.args[0]) from None


def record(console, progress: Progress, workdir: Path, stage: Stage, verdict: Verdict) -> bool:
    """Write a verdict into the diary (not for the reference solutions); True on the stage's first pass."""
    if is_solutions(workdir) or (verdict.error and not verdict.checks):
        return False
    first = progress.record(stage.id, verdict.passed, verdict.summary)
    stages = load_stages()
    if all(progress.passed(each.id) for each in stages) and not progress.data.get("finished_at"):
        progress.data["finished_at"] = now()
        progress.save()
        screen.closing(console, stages)
        return first
    progress.save()
    return first
