"""Grade on Gradescope with this same grader.

    python -m grader.gradescope build [--stage 01] [--out DIR]   (what `make gradescope` runs)
    python -m grader.gradescope run [--root /autograder]         (what run_autograder runs)

`build` writes DIR/gradescope-autograder.zip (default DIR: dist/): the grader, the
runtime and the reference solutions, with the two scripts Gradescope looks for at
the top of the zip: setup.sh (run once, builds .venv) and run_autograder (run for
each submission). Upload it as a "Zip file upload" autograder.

`run` lays the submission in ROOT/submission out like exercises/, grades it, and
writes ROOT/results/results.json, the Gradescope results format (the grader's
--json already is). A student may upload the exercises/ folder, stage folders,
or (for an assignment of one stage) just that stage's files.
AUTOGRADER_ROOT moves /autograder elsewhere (the tests use a temp folder).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from grader.stages import ROOT, Stage, load_stages, stage_by_id

# What the zip carries from the repository: everything the grader reads.
PACKED = ["stages.toml", "pyproject.toml", "requirements.lock", "grader", "workshop", "solutions", "exercises"]
CONFIG = "gradescope.json"

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image.
set -euo pipefail
cd "$(dirname "$0")"
apt-get update
if python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  apt-get install -y python3-venv
  PYTHON=python3
else  # Ubuntu 22.04 images ship Python 3.10; the workshop needs 3.11+
  apt-get install -y python3.11 python3.11-venv
  PYTHON=python3.11
fi
"$PYTHON" -m course.bootstrap   # .venv from the pinned dependencies, as `make setup` does
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission. AUTOGRADER_ROOT (default /autograder)
# and AUTOGRADER_PYTHON let it run anywhere else too.
ROOT="${AUTOGRADER_ROOT:-/autograder}"
cd "$(dirname "$0")"
PYTHON="${AUTOGRADER_PYTHON:-$PWD/.venv/bin/python}"
exec "$PYTHON" -m grader.gradescope run --root "$ROOT"
"""


def build(stages: list[Stage], out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    target = out / "gradescope-autograder.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in (("setup.sh", SETUP_SH), ("run_autograder", RUN_AUTOGRADER)):
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o100755 << 16  # executable once unzipped
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, text)
        archive.writestr(CONFIG, json.dumps({"stages": [stage.id for stage in stages]}, indent=2) + "\n")
        for name in PACKED:
            path = ROOT / name
            files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
            for file in files:
                if "__pycache__" not in file.parts and file.suffix != ".pyc":
                    archive.write(file, file.relative_to(ROOT).as_posix())
    return target


def lay_out(submission: Path, stages: list[Stage], workdir: Path) -> list[str]:
    """Copy the submission into WORKDIR laid out like exercises/; return what was found where."""
    base = submission / "exercises" if (submission / "exercises").is_dir() else submission
    found = []
    for stage in stages:
        folder = next((candidate for candidate in (base / stage.id, base / stage.number) if candidate.is_dir()), None)
        if folder is not None:
            shutil.copytree(folder, workdir / stage.id, symlinks=True)
            found.append(f"{stage.id}: {folder.relative_to(submission) if folder != submission else '.'}")
        elif len(stages) == 1 and any((base / name).is_file() for name in stage.files):
            shutil.copytree(base, workdir / stage.id, symlinks=True)
            found.append(f"{stage.id}: the files at the top of the submission")
    return found


def run(root: Path) -> int:
    config = json.loads((Path.cwd() / CONFIG).read_text()) if (Path.cwd() / CONFIG).is_file() else {}
    stages = [stage_by_id(name) for name in config.get("stages", [])] or load_stages()
    results = root / "results" / "results.json"
    results.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="gradescope-"))
    try:
        report = grade_into(root, stages, scratch / "workdir", results)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    results.write_text(json.dumps(report, indent=2))
    return 0


def grade_into(root: Path, stages: list[Stage], workdir: Path, results: Path) -> dict:
    workdir.mkdir()
    found = lay_out(root / "submission", stages, workdir)
    if not found:  # nothing to grade: say what to upload instead of failing every check
        message = ("No stage folder was found in your submission. Upload your exercises/ folder, or the stage "
                   "folders in it (" + ", ".join(stage.id for stage in stages) + ").")
        print(message)
        return {"score": 0, "max_score": sum(stage.points for stage in stages), "output": message,
                "tests": [{"name": "submission", "score": 0, "max_score": 0, "status": "failed", "output": message}]}
    print("Submission:", "; ".join(found), flush=True)
    done = subprocess.run([sys.executable, "-m", "grader", *[stage.id for stage in stages], "--workdir",
                           str(workdir), "--json", str(results), "--summary"],
                          env={**os.environ, "NO_COLOR": "1"})
    try:
        return json.loads(results.read_text())
    except (OSError, ValueError):
        return {"score": 0, "max_score": sum(stage.points for stage in stages),
                "tests": [{"name": "grader", "score": 0, "max_score": 0, "status": "failed",
                           "output": f"the grader ended with status {done.returncode} and wrote no results"}]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.gradescope", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    build_command = commands.add_parser("build", help="write the autograder zip")
    build_command.add_argument("--stage", action="append", default=[], help="only these stages")
    build_command.add_argument("--out", type=Path, default=ROOT / "dist")
    run_command = commands.add_parser("run", help="grade ROOT/submission into ROOT/results/results.json")
    run_command.add_argument("--root", type=Path, default=Path(os.environ.get("AUTOGRADER_ROOT", "/autograder")))
    options = parser.parse_args(argv)
    if options.command == "run":
        return run(options.root)
    try:
        names = [name for item in options.stage for name in item.replace(",", " ").split()]
        stages = [stage_by_id(name) for name in names] or load_stages()
    except KeyError as error:
        print(error.args[0], file=sys.stderr)
        return 2
    target = build(stages, options.out)
    print(f"{target} ({target.stat().st_size // 1024} KiB): upload it on Gradescope as the autograder "
          f"(stages {', '.join(stage.id for stage in stages)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
