"""Where a stage's starter comes from, byte for byte.

In a git checkout the starter is what is committed: `git show HEAD:exercises/<id>/<file>`.
(So if you commit your own work, `make reset` brings back your last commit, not the
original starter: `git log -- exercises/<id>` finds that one.)

Outside git (a downloaded zip), the first loop command (`make grade`, `make watch`)
keeps a pristine copy of exercises/ in .workshop/starters/, and reset uses that.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from grader.stages import EXERCISES, ROOT, Stage, load_stages

IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc")


class NoStarter(Exception):
    pass


def _git(*args: str) -> bytes | None:
    try:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def from_git(stage: Stage) -> dict[str, bytes] | None:
    folder = f"exercises/{stage.id}/"
    listing = _git("ls-tree", "-r", "-z", "--name-only", "HEAD", "--", f"./{folder}")
    if not listing:
        return None
    files = {}
    for name in filter(None, listing.decode().split("\0")):
        relative = name.split(folder, 1)[-1]
        content = _git("show", f"HEAD:./{folder}{relative}")
        if content is None:
            return None
        files[relative] = content
    return files


def pristine_folder(state_folder: Path, stage: Stage) -> Path:
    return state_folder / "starters" / stage.id


def from_copy(state_folder: Path, stage: Stage) -> dict[str, bytes] | None:
    folder = pristine_folder(state_folder, stage)
    if not folder.is_dir():
        return None
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*"))
            if path.is_file() and "__pycache__" not in path.parts}


def starter(stage: Stage, state_folder: Path) -> tuple[dict[str, bytes], str]:
    """The starter's files (relative name -> bytes) and where they came from."""
    files = from_git(stage)
    if files:
        return files, f"git HEAD:exercises/{stage.id}"
    files = from_copy(state_folder, stage)
    if files:
        return files, str(pristine_folder(state_folder, stage))
    raise NoStarter(f"no starter for {stage.id}: this is not a git checkout and there is no pristine copy in "
                    f"{pristine_folder(state_folder, stage)}; download the workshop again to get the starters.")


def is_git_checkout() -> bool:
    return _git("rev-parse", "--verify", "--quiet", "HEAD") is not None


def keep_pristine_copy(state_folder: Path) -> None:
    """Outside git only: copy exercises/ aside once, before the student's first grade."""
    if is_git_checkout():
        return
    for stage in load_stages():
        target = pristine_folder(state_folder, stage)
        if (EXERCISES / stage.id).is_dir() and not target.exists():
            shutil.copytree(EXERCISES / stage.id, target, ignore=IGNORED)


def lay_out(target: Path, state_folder: Path) -> None:
    """Write every stage's starter into TARGET, laid out like exercises/ (raises NoStarter without one)."""
    for stage in load_stages():
        files, _ = starter(stage, state_folder)
        for relative, content in files.items():
            path = target / stage.id / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
