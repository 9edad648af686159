"""Start a new stage from an existing one: `make new-stage NAME=07-attack-lab FROM=04-pure-asgi`.

    python -m course.new_stage NAME --from STAGE

It writes the new stage's own files and one stages.toml entry, and nothing else by hand:

    exercises/NAME/, solutions/NAME/    STAGE's starter and solution, STAGE's id replaced by NAME
    grader/checks/test_NN_SLUG.py       STAGE's checks
    notebooks/NAME.ipynb                STAGE's notebook
    lessons/NAME/README.md              an outline to write, opening with STAGE's first quote of its solution
    solutions/NAME.md                   a walkthrough to write
    stages.toml                         STAGE's entry under NAME, its words marked TODO(author)

then writes the stage tables of README.md and lessons/README.md again from stages.toml
(`python -m course.lessons`). The new stage grades at once as STAGE does; from there the
author changes its code, checks, lesson and notebook, and adds its tests under tests/.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

from course import lessons
from grader.stages import ROOT, StageDataError, forget_cached_stages, load_stages, stage_by_id

NAME = re.compile(r"(?P<number>\d\d)-(?P<slug>[a-z][a-z0-9]*(?:-[a-z0-9]+)*)")
WORDS = ("title", "short", "learn", "secure", "traps")

LESSON = """# {name}: TODO(author) the stage's title

TODO(author): what the student secures in this stage, and why it matters: the attack first, in your own
example, then the idea that stops it. The stage started as a copy of {source}: its code, checks and notebook
still teach what {source} teaches until you change them.

## What you start from

{quote}
## What you build

TODO(author): one section per TODO in `exercises/{name}/`, each with the idea it asks for (never its answer line).

## Check your work

Run `make grade STAGE={number}` in the repository: the grader shows each check, what it sent, what came back.
Once it passes, read [the walkthrough of the solution](../../solutions/{name}.md).
"""

WALKTHROUGH = """# {name}: the solution, explained

TODO(author): walk through each TODO's answer in `solutions/{name}/`, after the student's stage passes.
"""


def entry_of(toml: str, stage_id: str) -> str:
    """The text of STAGE_ID's [[stage]] table in stages.toml, its sub-tables included."""
    starts = [match.start() for match in re.finditer(r"^\[\[stage\]\]\n", toml, re.M)] + [len(toml)]
    for start, end in zip(starts, starts[1:]):
        if re.search(rf'^id = "{re.escape(stage_id)}"$', toml[start:end], re.M):
            return toml[start:end].rstrip() + "\n"
    raise StageDataError(f"stages.toml has no stage {stage_id}")


def new_entry(template: str, name: str, source: str) -> str:
    entry = template.replace(f'id = "{source}"', f'id = "{name}"', 1)
    for word in WORDS:
        entry = re.sub(rf'^{word} = ".*"$', f'{word} = "TODO(author): {word} (started from {source})"', entry,
                       count=1, flags=re.M)
    return entry


def first_quote(lesson: Path, source: str, name: str) -> str:
    """The source lesson's first quote of its solution, pointed at the new stage's copy."""
    found = lessons.BLOCK.search(lesson.read_text()) if lesson.is_file() else None
    if found is None or not found["path"].startswith(f"solutions/{source}/"):
        return ""
    return found.group(0).replace(f"solutions/{source}/", f"solutions/{name}/", 1) + "\n"


def copy_replacing(source: Path, target: Path, old: str, new: str) -> None:
    """SOURCE to TARGET (a file or a folder), with OLD replaced by NEW in every text file."""
    if source.is_dir():
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", ".env", "*.db", "*.jsonl"))
        files = [path for path in target.rglob("*") if path.is_file()]
    else:
        shutil.copyfile(source, target)
        files = [target]
    for path in files:
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        if old in text:
            path.write_text(text.replace(old, new))


def scaffold(name: str, source_id: str, root: Path = ROOT) -> list[Path]:
    """Write stage NAME from stage SOURCE_ID; the paths written, stages.toml last."""
    match = NAME.fullmatch(name)
    if match is None:
        raise SystemExit(f"{name!r} is not a stage name: two digits, a dash, lower-case words (07-attack-lab)")
    source = stage_by_id(source_id)
    if name in {stage.id for stage in load_stages()} or match["number"] in {s.number for s in load_stages()}:
        raise SystemExit(f"a stage {name} (or numbered {match['number']}) exists already")
    checks = root / "grader" / "checks" / f"test_{name.replace('-', '_')}.py"
    targets = {root / "exercises" / source.id: root / "exercises" / name,
               root / "solutions" / source.id: root / "solutions" / name,
               source.checks_file: checks,
               source.notebook: root / "notebooks" / f"{name}.ipynb"}
    written = []
    for old, new in targets.items():
        if new.exists():
            raise SystemExit(f"{new.relative_to(root)} exists already: nothing was written")
    for old, new in targets.items():
        copy_replacing(old, new, source.id, name)
        written.append(new)
    lesson = root / "lessons" / name / "README.md"
    lesson.parent.mkdir(parents=True)
    lesson.write_text(LESSON.format(name=name, source=source.id, number=match["number"],
                                    quote=first_quote(source.lesson, source.id, name)))
    walkthrough = root / "solutions" / f"{name}.md"
    walkthrough.write_text(WALKTHROUGH.format(name=name))
    stages_file = root / "stages.toml"
    toml = stages_file.read_text()
    stages_file.write_text(toml.rstrip() + "\n\n" + new_entry(entry_of(toml, source.id), name, source.id))
    return [*written, lesson, walkthrough, stages_file]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course.new_stage", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", help="the new stage's id, e.g. 07-attack-lab")
    parser.add_argument("--from", dest="source", required=True, help="the stage to start from, e.g. 04 or 04-pure-asgi")
    options = parser.parse_args(argv)
    for path in scaffold(options.name, options.source):
        print(f"wrote {path.relative_to(ROOT)}")
    forget_cached_stages()  # stages.toml changed a moment ago, maybe within its clock's resolution
    lessons.main([])  # the README's and the lessons' stage tables now list the new stage
    print(f"\nNext: `make grade STAGE={options.name[:2]} WORKDIR=solutions` grades it as {options.source} is graded;\n"
          f"then write its lesson and walkthrough (TODO(author)), change its code and checks, add its tests.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
