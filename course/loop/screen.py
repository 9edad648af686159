"""What the loop shows: colours and a bar in a terminal, plain text in a pipe or with NO_COLOR."""

from __future__ import annotations

import os
import sys
from datetime import datetime

from rich.console import Console
from rich.text import Text

from grader.stages import Stage

from course.loop.grading import Check, Verdict
from course.loop.hints import HintLevels
from course.loop.state import Progress


def make_console(stream=None) -> Console:
    stream = stream or sys.stdout
    plain = bool(os.environ.get("NO_COLOR")) or not stream.isatty()
    # markup off: what a student's server sent back may well contain [brackets].
    return Console(file=stream, color_system=None if plain else "auto", markup=False, emoji=False,
                   highlight=False, soft_wrap=plain, force_terminal=False if plain else None)


def plain(console: Console) -> bool:
    return console.color_system is None


def bar(console: Console, done: int, total: int, width: int = 24) -> Text:
    filled = round(width * done / total) if total else 0
    if plain(console):
        return Text(f"[{'#' * filled}{'-' * (width - filled)}]")
    return Text.assemble(("━" * filled, "green"), ("━" * (width - filled), "grey39"))


def progress_line(console: Console, progress: Progress, stages: list[Stage]) -> Text:
    done = sum(progress.passed(stage.id) for stage in stages)
    return Text.assemble("Progress ", bar(console, done, len(stages)), f" {done}/{len(stages)} stages passed")


def local_time(stamp: str) -> str:
    try:
        return datetime.fromisoformat(stamp).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return stamp


def progress_list(console: Console, progress: Progress, stages: list[Stage]) -> None:
    console.print(progress_line(console, progress, stages))
    current = progress.data.get("current")
    for stage in stages:
        entry = progress.data["stages"].get(stage.id, {})
        hints = sum(entry.get("hints", {}).values())
        if progress.passed(stage.id):
            mark, note = ("✔", "green"), f"passed {local_time(entry['passed_at'])}"
        elif entry.get("last_result"):
            mark, note = ("✘", "red"), f"not yet ({entry['last_result']})"
        else:
            mark, note = ("·", "grey50"), "not started"
        if hints:
            note += f", {hints} hint{'s' if hints > 1 else ''} used"
        pointer = "→" if stage.id == current else " "
        console.print(Text.assemble(f"{pointer} ", mark, f" {stage.id:<20} ", (note, "dim"), f"  {stage.title}"))


def field_lines(check: Check) -> list[tuple[str, str]]:
    return [(label, value) for label, value in
            (("sent", check.sent), ("got", check.got), ("expected", check.expected)) if value]


def show_hint(console: Console, levels: HintLevels, upto: int, earlier: bool = True) -> None:
    """Levels 1..UPTO: the last in full colour, the earlier ones dimmed."""
    for level in range(1 if earlier else upto, upto + 1):
        label = f"hint {level}/{len(levels.levels)}, {levels.name(level)}:" if len(levels.levels) > 1 else "hint:"
        style = "yellow" if level == upto else "dim"
        console.print(Text.assemble(("  " + label.ljust(9) + " ", style), (levels.levels[level - 1], style)))


def show_failure(console: Console, check: Check, levels: HintLevels, upto: int) -> None:
    console.print(Text.assemble(("✘ ", "red"), (check.title, "bold")))
    for label, value in field_lines(check):
        lines = value.splitlines() or [""]
        if len(lines) > 12:  # a long traceback: its first line is the status, its end names the error
            lines = [lines[0], "..."] + lines[-11:]
        console.print(Text(f"  {label + ':':<10}{lines[0]}"))
        for line in lines[1:]:
            console.print(Text(" " * 12 + line))
    if levels.levels:
        show_hint(console, levels, max(1, min(upto, len(levels.levels))))


def show_verdict(console: Console, verdict: Verdict, stage: Stage) -> None:
    state = ("done", "green") if verdict.passed else ("not yet", "red")
    console.print(Text.assemble(("Stage ", "bold"), (stage.id, "bold"), f": {stage.title} — ", state,
                                f" ({verdict.summary})"))
    if verdict.error:
        console.print(Text("The grader could not finish:", style="yellow"))
        console.print(Text("\n".join(verdict.error.strip().splitlines()[-15:]), style="dim"))


def welcome(console: Console, stages: list[Stage]) -> None:
    console.rule(Text("Welcome to the secure-MCP workshop", style="bold"))
    console.print(Text(
        f"{len(stages)} stages, each a server to lock and a lesson in lessons/<stage>/README.md.\n"
        "Edit the TODOs in exercises/<stage>/; the grader runs your code against the reference.\n"))
    for command, what in [
        ("make watch", "re-grade on every save; h hint, l list, r re-run, q quit"),
        ("make grade STAGE=01", "grade one stage, check by check"),
        ("make hint STAGE=01", "one more hint for the first failing check"),
        ("make progress", "what you have passed so far"),
        ("make reset STAGE=01", "start a stage again (your files are backed up first)"),
        ("make solution STAGE=01", "the reference and its walkthrough, once the stage passes"),
    ]:
        console.print(Text.assemble(("  " + command.ljust(26), "cyan"), what))
    console.rule()


def closing(console: Console, stages: list[Stage]) -> None:
    console.rule(Text("Every stage passes", style="bold green"))
    console.print(Text(
        f"You have secured the server through all {len(stages)} stages. Well done.\n"
        "Read each stage's reference with `make solution STAGE=..`: another way to the same guard\n"
        "is worth a look. `make progress` keeps the record."))
    console.rule()
