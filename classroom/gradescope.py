"""Grade on Gradescope with this same grader.

    python -m classroom.gradescope build [--stage 01] [--out DIR]   (what `make gradescope` runs)
    python -m classroom.gradescope run [--root /autograder]         (what run_autograder runs)

`build` writes DIR/gradescope-autograder.zip (default DIR: dist/): the grader, the
runtime and the reference solutions, with the two scripts Gradescope looks for at
the top of the zip: setup.sh (run once in /autograder/source, installs Python 3.11
if the image's is older and builds .venv there) and run_autograder (copied to
/autograder and run from there for each submission). Upload it as a "Zip file
upload" autograder.

`run` lays the submission in ROOT/submission out like exercises/, grades it, and
writes ROOT/results/results.json in the Gradescope results format: one test per
stage (its points, the checks that failed and what came back), each with the
visibility chosen at build time (--visibility: visible, after_due_date,
after_published, hidden). A student may upload the exercises/ folder (also
inside one top folder), stage folders, or (for an assignment of one stage) just
that stage's files. AUTOGRADER_ROOT moves /autograder elsewhere.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from classroom.results_channel import ResultsPipe, distrust, known_checks
from grader.stage_summary import by_stage, grader_notes, shorten
from grader.stages import ROOT, Stage, stages_named

# What the zip carries from the repository: everything the grader reads.
PACKED = ["stages.toml", "pyproject.toml", "requirements.lock", "grader", "classroom", "workshop", "solutions",
          "exercises"]
CONFIG = "gradescope.json"

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, in /autograder/source, when it builds the autograder's image.
# It needs only what the zip carries: Python 3.11+ (installed when the image's is older), then
# .venv from the pinned lock, with this folder on its sys.path (what `make setup` does, minus the
# notebooks and the Node.js clients, which grading never uses).
set -euo pipefail
cd "$(dirname "$0")"
# The lock needs Python 3.11.5 or newer (soupsieve 4.1 and others say so), whatever pyproject says.
python_new_enough() {
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys, ensurepip, venv; sys.exit(sys.version_info < (3, 11, 5))' >/dev/null 2>&1; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}
if ! PYTHON="$(python_new_enough)"; then
  # Ubuntu 22.04 images ship 3.10, and its own python3.11 is a 3.11.0 release candidate: take deadsnakes'.
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y software-properties-common
  add-apt-repository -y ppa:deadsnakes/ppa
  apt-get update
  apt-get install -y python3.11 python3.11-venv
  PYTHON="$(python_new_enough)"
fi
"$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -r requirements.lock
SITE="$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "$PWD" > "$SITE/secure_mcp_workshop.pth"
# Fail the image build here, not at the first submission.
.venv/bin/python -c 'import grader.cli, grader.session, classroom.gradescope, pytest, uvicorn, mcp'
echo "the autograder is ready: $(.venv/bin/python --version)"
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope copies this file to /autograder/run_autograder and runs it from /autograder, once per
# submission; everything else stays in /autograder/source. AUTOGRADER_ROOT moves /autograder elsewhere.
ROOT="${AUTOGRADER_ROOT:-/autograder}"
cd "$ROOT/source" || exit 1
exec "$ROOT/source/.venv/bin/python" -m classroom.gradescope run --root "$ROOT"
"""

# Gradescope's visibility of a test (and of the whole result): when the student sees it.
VISIBILITY = ("visible", "after_due_date", "after_published", "hidden")


def build(stages: list[Stage], out: Path, visibility: str = "visible") -> Path:
    out.mkdir(parents=True, exist_ok=True)
    target = out / "gradescope-autograder.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in (("setup.sh", SETUP_SH), ("run_autograder", RUN_AUTOGRADER)):
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o100755 << 16  # executable once unzipped
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, text)
        # The checks' names, so that run can refuse a report naming others (a forgery).
        config = {"stages": [stage.id for stage in stages], "visibility": visibility,
                  "checks": sorted(known_checks(stages))}
        archive.writestr(CONFIG, json.dumps(config, indent=2) + "\n")
        for name in PACKED:
            path = ROOT / name
            files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
            for file in files:
                if "__pycache__" not in file.parts and file.suffix != ".pyc":
                    archive.write(file, file.relative_to(ROOT).as_posix())
    return target


def lay_out(submission: Path, stages: list[Stage], workdir: Path) -> list[str]:
    """Copy the submission into WORKDIR laid out like exercises/; return what was found where.

    Accepted: the exercises/ folder (also one level down, as a zip of the repository unpacks),
    the stage folders (by id or number), or for one stage just its files.
    """
    candidates = [submission / "exercises", *sorted(submission.glob("*/exercises")), submission]
    base = next((folder for folder in candidates if folder.is_dir() and any(
        (folder / stage.id).is_dir() or (folder / stage.number).is_dir() for stage in stages)), submission)
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


def nothing_found(stages: list[Stage]) -> str:
    return ("No stage folder was found in your submission. Upload your exercises/ folder, or the stage "
            "folders in it (" + ", ".join(stage.id for stage in stages) + ").")


def results_for_students(report: dict, stages: list[Stage], visibility: str = "visible") -> dict:
    """Gradescope's results.json: one test per stage (its points, what failed and what came back),
    not one per check; the grader's own note, if any, first."""
    tests = []
    for note in grader_notes(report, stages):
        tests.append({"name": str(note.get("name", "grader")), "score": 0, "max_score": 0, "status": "failed",
                      "output": shorten(str(note.get("output") or ""), 4000), "visibility": visibility})
    for number, summary in enumerate(by_stage(report, stages), start=1):
        tests.append({"name": f"{summary.stage.id}: {summary.stage.title}", "number": str(number),
                      "score": float(summary.score), "max_score": float(summary.stage.points),
                      "status": "passed" if summary.passed else "failed", "output": summary.feedback(),
                      "output_format": "text", "visibility": visibility})
    total = sum(summary.score for summary in by_stage(report, stages))
    results = {"score": float(total), "max_score": float(sum(stage.points for stage in stages)),
               "visibility": visibility, "stdout_visibility": "hidden", "tests": tests}
    if report.get("output"):
        results["output"] = report["output"]
    return results


def run(root: Path) -> int:
    config = json.loads((ROOT / CONFIG).read_text()) if (ROOT / CONFIG).is_file() else {}
    stages = stages_named(config.get("stages", []))
    visibility = config.get("visibility", "visible")
    results = root / "results" / "results.json"
    results.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="gradescope-"))
    try:
        report = grade_into(root, stages, scratch / "workdir", set(config["checks"]) if "checks" in config else None)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    results.write_text(json.dumps(results_for_students(report, stages, visibility), indent=2))
    return 0


def grade_into(root: Path, stages: list[Stage], workdir: Path, known: set[str] | None = None) -> dict:
    """Grade ROOT/submission laid out in WORKDIR; the grader's report (one entry per check), vetted."""
    workdir.mkdir()
    found = lay_out(root / "submission", stages, workdir)
    if not found:  # nothing to grade: say what to upload instead of failing every check
        message = nothing_found(stages)
        print(message)
        return {"score": 0, "max_score": sum(stage.points for stage in stages), "output": message,
                "tests": [{"name": "submission", "score": 0, "max_score": 0, "status": "failed", "output": message}]}
    print("Submission:", "; ".join(found), flush=True)
    # The results come back through a pipe, not a file the submission's code could write.
    pipe = ResultsPipe()
    started = time.monotonic()
    grading = subprocess.Popen([sys.executable, "-m", "grader", *[stage.id for stage in stages], "--workdir",
                                str(workdir), "--json", pipe.path, "--summary"],
                               env={**os.environ, "NO_COLOR": "1"}, pass_fds=pipe.pass_fds)
    pipe.started()
    returncode = grading.wait()
    report = pipe.report()
    why = distrust(report, returncode, time.monotonic() - started, stages, known)
    if why:
        return {"score": 0, "max_score": sum(stage.points for stage in stages), "output": why,
                "tests": [{"name": "grader", "score": 0, "max_score": 0, "status": "failed", "output": why}]}
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m classroom.gradescope", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    build_command = commands.add_parser("build", help="write the autograder zip")
    build_command.add_argument("--stage", action="append", default=[], help="only these stages")
    build_command.add_argument("--out", type=Path, default=ROOT / "dist")
    build_command.add_argument("--visibility", choices=VISIBILITY, default="visible",
                               help="when students see their results (Gradescope's test visibility)")
    run_command = commands.add_parser("run", help="grade ROOT/submission into ROOT/results/results.json")
    run_command.add_argument("--root", type=Path, default=Path(os.environ.get("AUTOGRADER_ROOT", "/autograder")))
    options = parser.parse_args(argv)
    if options.command == "run":
        return run(options.root)
    try:
        stages = stages_named(options.stage)
    except KeyError as error:
        print(error.args[0], file=sys.stderr)
        return 2
    target = build(stages, options.out, options.visibility)
    print(f"{target} ({target.stat().st_size // 1024} KiB): upload it on Gradescope as the autograder "
          f"(stages {', '.join(stage.id for stage in stages)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
