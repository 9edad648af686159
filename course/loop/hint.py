"""One more hint for the stage's first failing check, each time you ask.

    python -m course.loop.hint 01 [--workdir DIR] [--state FILE]

Level 1 is the nudge `make grade` already shows; then where to look; then how.
The progress file remembers how far you went, per stage and topic.
"""

from __future__ import annotations

import sys

from rich.text import Text

from grader.stages import Stage

from course.loop import common, screen
from course.loop.grading import Verdict
from course.loop.hints import levels_for
from course.loop.state import Progress


def next_hint(console, progress: Progress, stage: Stage, verdict: Verdict) -> bool:
    """Show the next level for VERDICT's first failure and remember it; False when there is none."""
    check = verdict.first_failure
    if check is None:
        return False
    levels = levels_for(stage, check)
    if not levels.levels:
        console.print(Text(f"✘ {check.title}: the grader gave no hint for this one; its output:\n{check.output}"))
        return False
    key = levels.topic or check.title
    # Level 1 is on screen already (make grade, make watch print it with the failure): start past it.
    level = progress.next_hint_level(stage.id, key, shown=1, most=len(levels.levels))
    console.print(Text.assemble(("✘ ", "red"), (check.title, "bold")))
    for label, value in screen.field_lines(check)[:2]:
        console.print(Text(f"  {label + ':':<10}{value.splitlines()[0] if value else ''}"))
    screen.show_hint(console, levels, level)
    if level == len(levels.levels):
        console.print(Text("  That is the last hint for this check. The lesson walks through the idea.", style="dim"))
    return True


def main(argv: list[str] | None = None) -> int:
    parser = common.parser("python -m course.loop.hint", __doc__)
    parser.add_argument("stage", nargs="?", help="stage id or number")
    options = parser.parse_args(argv)
    stage = common.pick_stage(options.stage, "hint")
    workdir, progress = common.load(options)
    console = screen.make_console()
    verdict = common.verdict_for(console, progress, workdir, stage, "to find the first failing check")
    if verdict.passed:
        console.print(Text.assemble(("✔ ", "green"), f"{stage.id} passes: no hint needed. "
                                    f"`make solution STAGE={stage.number}` shows the reference."))
        return 0
    if verdict.error and not verdict.checks:
        screen.show_verdict(console, verdict, stage)
        return 2
    return 0 if next_hint(console, progress, stage, verdict) else 1


if __name__ == "__main__":
    sys.exit(main())
