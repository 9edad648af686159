"""The welcome, once: on the first `make grade` or `make watch` (the progress file remembers).

    python -m course.loop.welcome [--state FILE]

Outside a git checkout it also keeps a pristine copy of the starters for `make reset`.
"""

from __future__ import annotations

import sys

from grader.stages import load_stages

from course.loop import common, screen, starters
from course.loop.grading import is_solutions
from course.loop.state import Progress, now


def greet(console, progress: Progress) -> bool:
    """Welcome the student if this is their first time; True when it did."""
    if progress.data.get("welcomed_at"):
        return False
    starters.keep_pristine_copy(progress.folder)
    screen.welcome(console, load_stages())
    progress.reload()
    progress.data["welcomed_at"] = now()
    progress.save()
    return True


def main(argv: list[str] | None = None) -> int:
    options = common.parser("python -m course.loop.welcome", __doc__).parse_args(argv)
    workdir, progress = common.load(options)
    if not is_solutions(workdir):  # an instructor grading the reference needs no welcome
        greet(screen.make_console(), progress)
    return 0


if __name__ == "__main__":
    sys.exit(main())
