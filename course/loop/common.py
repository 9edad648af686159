"""What every loop command shares: where the student's work is, where the progress file is."""

from __future__ import annotations

import argparse
import os
from dataclasses import asdict
from pathlib import Path

from rich.text import Text

from grader.stages import EXERCISES, Stage, load_stages, stage_by_id

from course.loop import class_feed, screen
from course.loop.grading import Check, Verdict, digest, grade, is_solutions
from course.loop.state import Progress, now, state_path


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


def record(console, progress: Progress, workdir: Path, stage: Stage, verdict: Verdict,
           show_closing: bool = True, say=None) -> tuple[bool, bool]:
    """Write a verdict into the diary (not for the reference solutions), and send it to the class dashboard
    if the student opted in (SAY shows the one line a failed report costs; default: print it now).

    Returns (the stage's first pass, the last stage's first pass); on the latter the closing
    message is shown, unless the caller wants to show it itself (after clearing the screen).
    """
    if is_solutions(workdir) or (verdict.error and not verdict.checks):
        return False, False
    first = progress.record(stage.id, verdict.passed, verdict.summary)
    # Opted in to the class dashboard (CLASS_URL and CLASS_KEY): a summary, never code or output.
    class_feed.send(progress.folder, stage.id, verdict.checks, progress.hints_used(stage.id),
                    say=say or (lambda line: console.print(Text(line, style="dim"))))
    if verdict.digest and not verdict.error:
        progress.stage(stage.id)["last_verdict"] = {
            "digest": verdict.digest, "passed": verdict.passed, "summary": verdict.summary,
            "checks": remembered_checks(verdict)}
    stages = load_stages()
    if all(progress.passed(each.id) for each in stages) and not progress.data.get("finished_at"):
        progress.data["finished_at"] = now()
        progress.save()
        if show_closing:
            screen.closing(console, stages)
        return first, True
    progress.save()
    return first, False


def remembered_checks(verdict: Verdict) -> list[dict]:
    """Every check's status (what the pass test reads), and the first failure in full (what a hint reads)."""
    failure = verdict.first_failure
    return [asdict(check) if check is failure else
            {"stage": check.stage, "title": check.title, "status": check.status, "outcome": check.outcome}
            for check in verdict.checks]


def remembered(progress: Progress, workdir: Path, stage: Stage) -> Verdict | None:
    """The last verdict, if the stage folder (and stages.toml) hold exactly what was graded then.

    It is rebuilt with its checks, so it passes or fails exactly as the verdict it stands for.
    """
    last = progress.data["stages"].get(stage.id, {}).get("last_verdict")
    if not last or last.get("digest") != digest(workdir / stage.id):
        return None
    try:
        checks = [Check(**check) for check in last["checks"]]
    except (KeyError, TypeError):  # written by another version of the loop: grade again
        return None
    return Verdict(stage.id, 0 if last.get("passed") else 1, checks, digest=last["digest"],
                   remembered_summary=last.get("summary", ""))


def verdict_for(console, progress: Progress, workdir: Path, stage: Stage, why: str) -> Verdict:
    """The verdict on the files as they are: remembered if they did not change since, else graded now."""
    verdict = remembered(progress, workdir, stage)
    if verdict is not None:
        console.print(Text(f"(your {stage.id} files have not changed since they were last graded)", style="dim"))
        return verdict
    console.print(Text(f"Grading {stage.id} {why}...", style="dim"))
    verdict = grade(stage, workdir)
    record(console, progress, workdir, stage, verdict)
    return verdict
