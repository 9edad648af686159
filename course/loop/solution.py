"""The reference solution, once your stage passes: a diff against your files, and the walkthrough.

    python -m course.loop.solution 01 [--force] [--workdir DIR] [--state FILE]

Before the stage passes it refuses and says why (--force, FORCE=1 with make, overrides):
the answer is worth most right after you found your own.
"""

from __future__ import annotations

import difflib
import sys
from pathlib import Path

from rich.markdown import Markdown
from rich.syntax import Syntax
from rich.text import Text

from grader.stages import ROOT, SOLUTIONS, Stage

from course.loop import common, screen

WALKTHROUGHS = ROOT / "solutions"  # solutions/<stage>.md, beside the stage folder


def read(path: Path) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines(keepends=True)
    except FileNotFoundError:
        return []


def diff(stage: Stage, workdir: Path) -> str:
    """Your files (---) against the reference (+++), file by file."""
    chunks = []
    for name in stage.files:
        mine, reference = workdir / stage.id / name, SOLUTIONS / stage.id / name
        chunks += difflib.unified_diff(read(mine), read(reference), fromfile=f"yours/{stage.id}/{name}",
                                       tofile=f"reference/{stage.id}/{name}")
    return "".join(line if line.endswith("\n") else line + "\n" for line in chunks)


def show(console, stage: Stage, workdir: Path) -> None:
    console.rule(Text(f"{stage.id}: the reference solution", style="bold"))
    changes = diff(stage, workdir)
    if changes:
        console.print(Text("Where your files differ from the reference (- yours, + reference):"))
        if screen.plain(console):
            console.print(Text(changes.rstrip("\n")))
        else:
            console.print(Syntax(changes, "diff", theme="ansi_dark", background_color="default"))
    else:
        console.print(Text("Your files are the reference, line for line."))
    walkthrough = WALKTHROUGHS / f"{stage.id}.md"
    if walkthrough.is_file():
        console.rule(Text("Walkthrough", style="bold"))
        text = walkthrough.read_text()
        console.print(Text(text.rstrip("\n")) if screen.plain(console) else Markdown(text))
    console.print(Text(f"The reference files: {SOLUTIONS.relative_to(ROOT) / stage.id}/", style="dim"))


def main(argv: list[str] | None = None) -> int:
    parser = common.parser("python -m course.loop.solution", __doc__)
    parser.add_argument("stage", nargs="?", help="stage id or number")
    parser.add_argument("--force", action="store_true", help="show it even though the stage does not pass yet")
    options = parser.parse_args(argv)
    stage = common.pick_stage(options.stage, "solution")
    workdir, progress = common.load(options)
    console = screen.make_console()
    if not options.force:
        # The grader decides, on the files as they are now (its verdict on these very files is reused):
        # a pass noted in the progress file last week does not count.
        verdict = common.verdict_for(console, progress, workdir, stage, "first: the solution opens once it passes")
        if not verdict.passed:
            console.print(Text.assemble(
                ("Not yet: ", "red"), f"{stage.id} does not pass ({verdict.summary}), so the solution stays closed. "
                "Finding the answer yourself is the lesson; the reference is worth most right after.\n"
                f"  make watch STAGE={stage.number}   re-grade as you edit\n"
                f"  make hint STAGE={stage.number}    one more hint\n"
                f"  make solution STAGE={stage.number} FORCE=1   open it anyway"))
            return 1
    show(console, stage, workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
