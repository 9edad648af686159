"""Keep the lessons' code blocks equal to the solution files they quote.

A lesson marks a code block with the file (and optionally the names) it shows:

    <!-- code: solutions/01-middleware/auth.py | API_KEY HEADER ApiKeyMiddleware -->
    ```python
    ...
    ```

The same goes for the walkthroughs, solutions/<stage>.md. The stage tables of README.md
and lessons/README.md (and the course map) are written from stages.toml the same way,
between `<!-- stages: NAME -->` and `<!-- /stages -->`.
`python -m course.lessons` rewrites every marked block from its source;
`python -m course.lessons --check` (run by the tests) fails when a block has drifted.
Names pick top-level functions, classes and assignments, with their decorators
and the comment lines right above them; no names means the whole file.

Quote only code the student does not write: the lines a TODO asks for belong in
the walkthroughs (solutions/<stage>.md), which a student reads after the stage
passes. tests/test_lessons_teach.py fails a lesson that quotes one of them.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LESSONS = ROOT / "lessons"
BLOCK = re.compile(
    r"(?P<marker><!-- code: (?P<path>\S+)(?: \| (?P<names>[^>]+?))? -->\n)```(?P<lang>\w*)\n(?P<body>.*?)```",
    re.S,
)
TABLE = re.compile(r"(?P<open><!-- stages: (?P<name>[a-z-]+) -->\n)(?P<body>.*?)(?P<close><!-- /stages -->)", re.S)
# Lesson 00 has no exercise, so no stage: the lessons' table and the course map start with it.
THREAT_MODEL = ("00-threat-model", "threat model", "nothing yet: who attacks, what a key covers and what it does not",
                "believing a key is the whole of security")


def _named_nodes(tree: ast.Module) -> dict[str, ast.stmt]:
    found: dict[str, ast.stmt] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found[node.name] = node
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found[target.id] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            found[node.target.id] = node
    return found


def excerpt(path: Path, names: list[str]) -> str:
    source = path.read_text()
    if not names:
        return source
    lines = source.splitlines()
    nodes = _named_nodes(ast.parse(source))
    pieces = []
    for name in names:
        if name not in nodes:
            raise KeyError(f"{path.relative_to(ROOT)} has no top-level {name!r}")
        node = nodes[name]
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])]) - 1
        while first > 0 and lines[first - 1].lstrip().startswith("#"):
            first -= 1  # the comment that explains it belongs with it
        pieces.append("\n".join(lines[first:node.end_lineno]))
    return "\n\n".join(pieces) + "\n"


def stage_table(name: str) -> str:
    """The table (or diagram) NAME, written from stages.toml."""
    from grader.stages import load_stages  # the stage data only: course tools read it, never the checks

    stages = load_stages()
    if name == "readme":
        rows = [f"| `{s.id}` | {s.learn} | {', '.join(f'`{file}`' for file in s.todo)} |" for s in stages]
        return "\n".join(["| stage | you learn | you edit |", "| --- | --- | --- |", *rows]) + "\n"
    lessons = [THREAT_MODEL[:1] + THREAT_MODEL[2:]] + [(s.id, s.secure, s.traps) for s in stages]
    if name == "lessons":
        rows = [f"| {int(id[:2])} | [{id}]({id}/README.md) | {secure} | {traps} |" for id, secure, traps in lessons]
        return "\n".join(["| | stage | what you secure | where it goes wrong |", "| --- | --- | --- | --- |",
                          *rows]) + "\n"
    if name == "map":
        steps = [(THREAT_MODEL[0][:2], THREAT_MODEL[1])] + [(s.number, s.short) for s in stages]
        nodes = " --> ".join(f"S{int(number)}[{number} {words}]" for number, words in steps)
        return f"```mermaid\nflowchart LR\n    {nodes}\n```\n"
    raise KeyError(f"no stage table named {name!r} (readme, lessons, map)")


def render(text: str) -> str:
    def replace(match: re.Match) -> str:
        names = (match["names"] or "").split()
        body = excerpt(ROOT / match["path"], names)
        return f"{match['marker']}```{match['lang']}\n{body}```"

    def table(match: re.Match) -> str:
        return f"{match['open']}{stage_table(match['name'])}{match['close']}"

    return TABLE.sub(table, BLOCK.sub(replace, text))


def lesson_files() -> list[Path]:
    """The lessons, and the walkthroughs of the solutions (which quote the answers a lesson may not)."""
    return sorted(LESSONS.glob("*/README.md")) + sorted((LESSONS.parent / "solutions").glob("*.md"))


def table_files() -> list[Path]:
    """The pages that list the stages: the README's table, the lessons' table and course map."""
    return [page for page in (LESSONS.parent / "README.md", LESSONS / "README.md") if page.is_file()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail if a block differs from its source")
    options = parser.parse_args(argv)
    drifted = []
    for lesson in table_files() + lesson_files():
        text = lesson.read_text()
        fresh = render(text)
        if fresh != text:
            drifted.append(lesson.relative_to(LESSONS.parent))
            if not options.check:
                lesson.write_text(fresh)
    if options.check and drifted:
        print("These lessons quote code that changed; run `python -m course.lessons`:", *drifted, sep="\n  ")
        return 1
    print("rewrote: " + ", ".join(map(str, drifted)) if drifted and not options.check else "lessons are in sync")
    return 0


if __name__ == "__main__":
    sys.exit(main())
