"""Start a stage again: your files go to a backup folder, then the starter comes back byte for byte.

    python -m course.loop.reset 01 [--force] [--workdir DIR] [--state FILE]
    python -m course.loop.reset --all [--force]

It asks before it replaces anything (--force, or FORCE=1 with make, skips the
question). Backups: .workshop/backups/<time>-<stage>/, next to the progress file.
"""

from __future__ import annotations

import shutil
import sys
from datetime import datetime
from pathlib import Path

from rich.text import Text

from grader.stages import Stage, load_stages

from course.loop import common, screen, starters
from course.loop.grading import is_solutions
from course.loop.state import Progress


def confirm(question: str) -> bool:
    print(f"{question} [y/N] ", end="", flush=True)
    try:
        answer = sys.stdin.readline()
    except KeyboardInterrupt:
        answer = ""
    return answer.strip().lower() in ("y", "yes")


def backup(folder: Path, into: Path) -> Path | None:
    """Copy the student's stage folder aside; None when there is nothing to keep."""
    if not folder.is_dir() or not any(folder.iterdir()):
        return None
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    target = into / f"{stamp}-{folder.name}"
    shutil.copytree(folder, target, ignore=starters.IGNORED)
    return target


def restore(folder: Path, files: dict[str, bytes]) -> None:
    """Make FOLDER hold exactly FILES: extra files go (they are in the backup), the starter's come back."""
    if folder.is_dir():
        for path in sorted(folder.rglob("*"), reverse=True):
            relative = str(path.relative_to(folder))
            if path.is_dir():
                if not any(path.iterdir()) or path.name == "__pycache__":
                    shutil.rmtree(path)
            elif relative not in files:
                path.unlink()
    for relative, content in files.items():
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)


def reset(console, stage: Stage, workdir: Path, progress: Progress) -> None:
    files, source = starters.starter(stage, progress.folder)
    folder = workdir / stage.id
    saved = backup(folder, progress.folder / "backups")
    restore(folder, files)
    progress.forget_pass(stage.id)
    progress.save()
    console.print(Text.assemble(("✔ ", "green"), f"{stage.id} is back to its starter ({source})."))
    if saved:
        console.print(Text(f"  your files were saved in {saved}", style="dim"))


def main(argv: list[str] | None = None) -> int:
    parser = common.parser("python -m course.loop.reset", __doc__)
    parser.add_argument("stage", nargs="?", help="stage id or number")
    parser.add_argument("--all", action="store_true", help="every stage")
    parser.add_argument("--force", action="store_true", help="do not ask")
    options = parser.parse_args(argv)
    workdir, progress = common.load(options)
    console = screen.make_console()
    if is_solutions(workdir):
        console.print("Refusing to reset the reference solutions: reset works on your exercises.")
        return 2
    stages = load_stages() if options.all else [common.pick_stage(options.stage, "reset")]
    names = "every stage" if options.all else stages[0].id
    if not options.force and not confirm(
            f"Reset {names} in {workdir} to the starter? Your files are backed up first."):
        console.print("Nothing changed.")
        return 1
    try:
        for stage in stages:
            reset(console, stage, workdir, progress)
    except starters.NoStarter as error:
        console.print(Text(str(error), style="red"))
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
