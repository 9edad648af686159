"""What you have passed so far, with a bar: read from the progress file, not graded again.

    python -m course.loop.progress [--state FILE]

The file is a diary kept by `make grade`, `make watch` and `make hint`; the grader
never reads it. `make grade` tells the truth about your files at any moment.
"""

from __future__ import annotations

import sys

from rich.text import Text

from grader.stages import load_stages

from course.loop import common, screen


def main(argv: list[str] | None = None) -> int:
    options = common.parser("python -m course.loop.progress", __doc__).parse_args(argv)
    _, progress = common.load(options)
    console = screen.make_console()
    stages = load_stages()
    screen.progress_list(console, progress, stages)
    left = next((stage for stage in stages if not progress.passed(stage.id)), None)
    if left:
        console.print(Text(f"\nNext: make watch STAGE={left.number}   (lessons/{left.id}/README.md)", style="dim"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
