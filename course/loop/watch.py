"""Watch mode: save a file, see the verdict. Like `rustlings watch`.

    python -m course.loop.watch [STAGE] [--workdir DIR] [--state FILE] [--until-pass] [--once]

It grades the stage you are on, then re-grades the stage whose folder you save in,
and shows one screen: the progress bar, the first failing check (what was sent,
what came back, the hint) and the keys. When the stage passes it moves to the next.

Keys: h next hint, l list the stages, r re-run, q quit (Ctrl+C too). In a terminal a
key press is enough; when stdin is not a terminal, each line read is one key.
--until-pass stops with status 0 once the stage passes; --once grades once and stops.
Every grader it starts is stopped before it leaves, servers and all.
"""

from __future__ import annotations

import os
import queue
import signal
import sys
import threading
from pathlib import Path

import watchfiles
from rich.text import Text

from grader.stages import Stage, load_stages

from course.loop import common, screen, welcome
from course.loop.grading import Grading, Verdict
from course.loop.hints import levels_for
from course.loop.state import Progress

KEYS = Text.assemble("keys: ", ("h", "bold"), " next hint  ", ("l", "bold"), " list  ",
                     ("r", "bold"), " re-run  ", ("q", "bold"), " quit")


class Stop(Exception):
    """TERM or HUP: leave through the same door as q, stopping the grader first."""


def fingerprint(folder: Path) -> tuple:
    """What the stage folder holds now, cheaply: a save changes it, a grader's __pycache__ does not."""
    if not folder.is_dir():
        return ()
    return tuple(sorted(
        (str(path.relative_to(folder)), stat.st_mtime_ns, stat.st_size)
        for path in folder.rglob("*")
        if "__pycache__" not in path.parts and path.suffix != ".pyc" and path.is_file()
        for stat in [path.stat()]
    ))


class Keys:
    """Key presses as events: raw single keys on a terminal, one key per line otherwise."""

    def __init__(self, events: queue.Queue) -> None:
        self.events, self.saved = events, None
        stream = sys.stdin
        if stream is None or stream.closed:
            return
        if stream.isatty():
            try:
                import termios
                import tty

                self.saved = termios.tcgetattr(stream.fileno())
                tty.setcbreak(stream.fileno())  # keys arrive one by one; Ctrl+C still interrupts
            except (ImportError, OSError):
                self.saved = None
        threading.Thread(target=self.read, args=(stream,), daemon=True, name="keys").start()

    def read(self, stream) -> None:
        while True:
            try:
                chunk = os.read(stream.fileno(), 1).decode(errors="ignore") if self.saved else stream.readline()
            except (OSError, ValueError):
                return
            if not chunk:  # end of input: no more keys, but the watching goes on
                return
            key = chunk.strip()[:1].lower()
            if key:
                self.events.put(("key", key))

    def restore(self) -> None:
        if self.saved is not None:
            import termios

            termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, self.saved)
            self.saved = None


class Watcher:
    def __init__(self, console, workdir: Path, progress: Progress, stage: Stage,
                 until_pass: bool = False, once: bool = False) -> None:
        self.console, self.workdir, self.progress = console, workdir, progress
        self.stages = load_stages()
        self.stage, self.until_pass, self.once = stage, until_pass, once
        self.events: queue.Queue = queue.Queue()
        self.stop_watching = threading.Event()
        self.grading: Grading | None = None
        self.graded_print: tuple | None = None  # the folder's fingerprint when the last grade began
        self.verdict: Verdict | None = None
        self.keep_screen = False

    # -- the threads that feed events -------------------------------------------------
    def watch_files(self) -> None:
        try:
            for changes in watchfiles.watch(self.workdir, stop_event=self.stop_watching, debounce=300,
                                            rust_timeout=500, raise_interrupt=False):
                self.events.put(("change", {Path(path) for _, path in changes}))
        except Exception as error:  # the folder vanished, too many watches: say so, keep the keys working
            self.events.put(("watch-error", str(error)))

    # -- grading -----------------------------------------------------------------------
    def folder(self, stage: Stage | None = None) -> Path:
        return self.workdir / (stage or self.stage).id

    def start_grading(self) -> None:
        self.stop_grading()
        self.graded_print = fingerprint(self.folder())
        self.console.print(Text(f"grading {self.stage.id} ...", style="dim"))
        self.grading = Grading(self.stage, self.workdir)

    def stop_grading(self) -> None:
        if self.grading is not None:
            self.grading.stop()
            self.grading.cleanup()
            self.grading = None

    def finished(self) -> int | None:
        """The grader is done: show the verdict. A number means: leave with this status."""
        verdict, self.grading = self.grading.verdict(), None
        self.verdict = verdict
        notes: list[str] = []  # a report the class dashboard did not take: shown below the fresh screen
        _, all_done = common.record(self.console, self.progress, self.workdir, self.stage, verdict,
                                    show_closing=False, say=notes.append)
        self.render()
        for note in notes:
            self.console.print(Text(note, style="dim"))
        if all_done:
            screen.closing(self.console, self.stages)
        if fingerprint(self.folder()) != self.graded_print:  # saved while the grader ran
            self.start_grading()
            return None
        if self.once or (self.until_pass and verdict.passed):
            return 0 if verdict.passed else 1
        if verdict.passed:
            self.move_on()
        return None

    def move_on(self) -> None:
        later = [stage for stage in self.stages[self.stages.index(self.stage) + 1:]
                 if not self.progress.passed(stage.id) and self.folder(stage).is_dir()]
        if not later:
            self.console.print(Text("Watching for changes; q quits.", style="dim"))
            return
        self.console.print(Text.assemble("On to ", (later[0].id, "bold"), f": {later[0].title} "
                                         f"(lessons/{later[0].id}/README.md)"))
        self.stage, self.keep_screen = later[0], True
        self.start_grading()

    # -- the screen --------------------------------------------------------------------
    def render(self, hint_level: int | None = None) -> None:
        console, verdict, stage = self.console, self.verdict, self.stage
        self.progress.reload()  # hints asked for with `make hint` in another terminal count too
        if self.keep_screen or screen.plain(console):
            console.rule()
        else:
            console.clear()
        self.keep_screen = False
        console.print(screen.progress_line(console, self.progress, self.stages))
        if verdict is None:
            return
        screen.show_verdict(console, verdict, stage)
        check = verdict.first_failure
        if verdict.passed:
            console.print(Text.assemble(("✔ ", "green"), f"Every check passes. `make solution STAGE={stage.number}`"
                                        " shows the reference and its walkthrough."))
        elif check is not None:
            levels = levels_for(stage, check)
            used = self.progress.hint_level(stage.id, levels.topic or check.title)
            screen.show_failure(console, check, levels, hint_level or max(1, used))
        if not self.once:
            console.print(Text.assemble((f"watching {self.folder()}  ", "dim"), KEYS))

    def next_hint(self) -> None:
        check = self.verdict.first_failure if self.verdict else None
        if check is None:
            self.console.print(Text("No failing check, no hint needed." if self.verdict else "Still grading..."))
            return
        levels = levels_for(self.stage, check)
        if not levels.levels:
            self.console.print(Text("The grader gave no hint for this check."))
            return
        key = levels.topic or check.title
        level = self.progress.next_hint_level(self.stage.id, key, shown=1, most=len(levels.levels))
        self.render(hint_level=level)
        if level == len(levels.levels):
            self.console.print(Text("That is the last hint for this check.", style="dim"))

    # -- the loop ----------------------------------------------------------------------
    def stage_of(self, paths: set[Path]) -> Stage | None:
        for stage in self.stages:
            if any(self.folder(stage) in path.parents for path in paths):
                return stage
        return None

    def handle(self, kind: str, value) -> int | None:
        if kind == "change":
            edited = self.stage_of(value)
            if edited is None:
                return None
            if edited != self.stage:
                self.stage, self.verdict = edited, None
            elif self.grading is None and fingerprint(self.folder()) == self.graded_print:
                return None  # nothing the grader would see differently
            self.start_grading()
        elif kind == "key":
            if value == "q":
                return 0
            if value == "r":
                self.start_grading()
            elif value == "l":
                screen.progress_list(self.console, self.progress, self.stages)
            elif value == "h":
                self.next_hint()
        elif kind == "watch-error":
            self.console.print(Text(f"Cannot watch {self.workdir} any more: {value}; r re-runs, q quits.",
                                    style="yellow"))
        return None

    def run(self) -> int:
        keys = Keys(self.events) if not self.once else None
        watcher = threading.Thread(target=self.watch_files, daemon=True, name="watchfiles")
        if not self.once:
            watcher.start()
        try:
            self.start_grading()
            while True:
                if self.grading is not None and self.grading.done():
                    status = self.finished()
                    if status is not None:
                        return status
                try:
                    kind, value = self.events.get(timeout=0.1)
                except queue.Empty:
                    continue
                if os.environ.get("WORKSHOP_LOOP_DEBUG"):
                    print(f"[debug] {kind} {value}", file=sys.stderr)
                status = self.handle(kind, value)
                if status is not None:
                    return status
        except KeyboardInterrupt:
            return 130
        except Stop:
            return 143
        finally:
            self.stop_grading()
            self.stop_watching.set()
            if keys:
                keys.restore()
            if watcher.is_alive():
                watcher.join(timeout=2)


def first_open_stage(progress: Progress, workdir: Path) -> Stage:
    stages = load_stages()
    present = [stage for stage in stages if (workdir / stage.id).is_dir()] or stages
    return next((stage for stage in present if not progress.passed(stage.id)), present[0])


def main(argv: list[str] | None = None) -> int:
    parser = common.parser("python -m course.loop.watch", __doc__)
    parser.add_argument("stage", nargs="?", help="stage id or number (default: the first not passed yet)")
    parser.add_argument("--until-pass", action="store_true", help="stop once the stage passes (status 0)")
    parser.add_argument("--once", action="store_true", help="grade once, show the screen, stop")
    options = parser.parse_args(argv)
    workdir, progress = common.load(options)
    if not workdir.is_dir():
        raise SystemExit(f"There is no folder {workdir} to watch.")
    stage = common.pick_stage(options.stage, "watch") if options.stage else first_open_stage(progress, workdir)
    console = screen.make_console()
    greeted = welcome.greet(console, progress)

    def stop(*_):
        # Once is enough: a second TERM must not interrupt the stopping of the grader.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Stop

    signal.signal(signal.SIGTERM, stop)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, stop)
    watcher = Watcher(console, workdir, progress, stage, until_pass=options.until_pass, once=options.once)
    watcher.keep_screen = greeted  # the first verdict goes below the welcome, not over it
    return watcher.run()


if __name__ == "__main__":
    sys.exit(main())
