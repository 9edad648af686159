"""The grader's command line: run the checks of the chosen stages and report them.

    python -m grader                      grade every stage in exercises/
    python -m grader 01-middleware        grade one stage, check by check
    python -m grader --workdir DIR        grade a folder laid out like exercises/
    python -m grader --json results.json  also write a Gradescope-style results file
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING


from grader.harness import fork_server_ready, keeping_files, run_dir, start_fork_server
from grader.launch import worth_a_fork_server
from grader.report import CheckRecord, Report
if TYPE_CHECKING:  # loaded at run time only once the fork server has started
    from grader.session import CheckResult, GradingSession
from grader.stages import EXERCISES, SOLUTIONS, Stage, StageDataError, load_stages, stage_by_id


class Style:
    def __init__(self, stream) -> None:
        self.on = stream.isatty() and not os.environ.get("NO_COLOR")

    def _paint(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.on else text

    def green(self, text: str) -> str:
        return self._paint("32", text)

    def red(self, text: str) -> str:
        return self._paint("31", text)

    def yellow(self, text: str) -> str:
        return self._paint("33", text)

    def dim(self, text: str) -> str:
        return self._paint("2", text)

    def bold(self, text: str) -> str:
        return self._paint("1", text)


MARKS = {"passed": "✔", "failed": "✘", "blocked": "–", "not run": "○"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m grader", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stages", nargs="*", metavar="STAGE", help="stage ids (or numbers); default: all")
    parser.add_argument("--workdir", type=Path, default=EXERCISES, help="folder laid out like exercises/")
    parser.add_argument("--reference", type=Path, default=SOLUTIONS, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, metavar="FILE", help="write Gradescope-style results to FILE")
    parser.add_argument("--list", action="store_true", help="list the stages and exit")
    parser.add_argument("--summary", action="store_true", help="one line per stage, details of the first failure")
    parser.add_argument("--details", action="store_true", help="every check of every stage")
    return parser.parse_args(argv)


class Printer:
    """Prints as checks finish: every check in detail mode, a progress line per stage in summary mode."""

    def __init__(self, stages: list[Stage], detailed: bool, out=sys.stdout) -> None:
        self.stages, self.detailed, self.out, self.style = stages, detailed, out, Style(out)
        self.current: str | None = None
        self.hints_shown: dict[tuple[str, str], str] = {}  # a hint, and the check it was first shown for
        self.per_stage: dict[str, list[CheckResult]] = {stage.id: [] for stage in stages}

    def write(self, text: str = "", end: str = "\n") -> None:
        try:
            self.out.write(text + end)
            self.out.flush()
        except BrokenPipeError:
            # The reader went away (`| head`): keep grading quietly so the exit status stays right.
            self.out = open(os.devnull, "w")

    def paint(self, result: CheckResult):
        return {"passed": self.style.green, "failed": self.style.red}.get(result.outcome, self.style.yellow)

    def stage_header(self, stage: Stage, index: int) -> None:
        self.write(self.style.bold(f"[{index}/{len(self.stages)}] {stage.id}: {stage.title}"))

    def check_line(self, result: CheckResult, previous: CheckResult | None = None) -> None:
        mark = MARKS[result.outcome]
        paint = self.paint(result)
        self.write(f"  {paint(mark)} {result.title}")
        if result.warning:
            self.write("      " + self.style.yellow(f"warning: {result.warning}"))
        repeated = previous is not None and previous.outcome == "blocked" and previous.output == result.output
        if not result.passed and result.output and not repeated:
            lines = result.output.strip().splitlines()
            hint = str(result.failure.hint) if result.failure is not None and result.failure.hint else None
            if hint and (result.stage, hint) in self.hints_shown:
                # The same mistake under ten rows of a table: show what came back, and where the hint is.
                first = self.hints_shown[(result.stage, hint)]
                lines = [f"got:      {result.failure.got}".splitlines()[0],
                         f"hint:     the same as for \"{first}\" above"]
            elif hint:
                self.hints_shown[(result.stage, hint)] = result.title if len(result.title) <= 70 \
                    else result.title[:67] + "..."
            for line in lines:
                self.write("      " + line)

    def on_result(self, result: CheckResult) -> None:
        stage = stage_by_id(result.stage)
        if result.stage != self.current:
            self.finish_stage()
            self.current = result.stage
            index = [s.id for s in self.stages].index(stage.id) + 1
            if self.detailed:
                self.stage_header(stage, index)
            else:
                self.write(f"[{index}/{len(self.stages)}] {stage.id:<18} ", end="")
        earlier = self.per_stage[result.stage]
        self.per_stage[result.stage].append(result)
        if self.detailed:
            self.check_line(result, earlier[-2] if len(earlier) > 1 else None)
        else:
            self.write(self.paint(result)("." if result.passed else MARKS[result.outcome]), end="")

    def finish_stage(self) -> None:
        if self.current is None:
            return
        results = self.per_stage[self.current]
        passed = sum(r.passed for r in results)
        verdict = self.style.green("done") if passed == len(results) else self.style.red("not yet")
        if self.detailed:
            self.write(f"  {passed}/{len(results)} checks pass: {verdict}\n")
        else:
            self.write(f" {passed}/{len(results)} {verdict}")


def gradescope(results: list[CheckResult], error: BaseException | None = None) -> dict:
    """Gradescope's results.json: statuses are only passed/failed there, so what else happened
    (blocked by an earlier link, not run at all) is said in the output and in extra_data (grader/report.py)."""
    checks = []
    for result in results:
        failure = result.failure
        output = result.output if result.outcome != "not run" else (result.output or "not run: the grader stopped "
                                                                    "before this check ran")
        if result.warning:
            output = f"warning: {result.warning}"
        checks.append(CheckRecord(
            stage=result.stage, check=result.title, outcome=result.outcome, score=result.score,
            max_score=result.max_score, scored=result.scored, output=output, warning=result.warning,
            **({} if failure is None else dict(sent=failure.sent, got=failure.got, expected=failure.expected,
                                               hint=str(failure.hint), hint_topic=getattr(failure.hint, "topic", "")))))
    if error is not None:
        checks.append(CheckRecord(stage="", check="grader", outcome="not run",
                                  output="".join(traceback.format_exception(error))))
    return Report(checks).to_json()


# What the checks import, heaviest last: pytest, the attack table (Hypothesis), the MCP client.
CHECK_LIBRARIES = ["pytest", "grader.checks.common", "grader.mcp_session"]


def load_while_the_fork_server_warms_up() -> None:
    """The servers start only once the fork server has loaded its libraries: meanwhile this
    process loads the checks' own (on the other core), for as long as that wait lasts."""
    import importlib

    for name in CHECK_LIBRARIES:
        if fork_server_ready():
            return
        importlib.import_module(name)


def run_checks(session: GradingSession) -> int:
    from grader.session import run_pytest  # pytest with it, only now: the servers are already booting

    stages = session.stages
    args = [str(stage.checks_file) for stage in stages] + [
        "--workdir", str(session.workdir), "--reference", str(session.reference),
        "-p", "no:cacheprovider", "-p", "no:terminal", "-p", "no:warnings",
        # The checks need no third-party plugin. Not loading them saves their imports (xdist, anyio,
        # hypothesis's) and keeps locust's out: its `session` fixture would stand in for the grader's.
        # The two exception collectors would end every run with a full garbage collection.
        "--disable-plugin-autoload", "-p", "no:unraisableexception", "-p", "no:threadexception",
        "--rootdir", str(stages[0].checks_file.parent), "-o", "addopts=", "-o", "testpaths=",
    ]
    return run_pytest(args, plugins=[session])


_TERMINATED = []


def _terminate(*_) -> None:
    _TERMINATED.append(True)
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    try:
        code = grade(argv)
    except KeyboardInterrupt:  # before the checks began: the servers die at exit all the same
        print("\ninterrupted", file=sys.stderr)
        code = 130
    return 143 if _TERMINATED else code


def grade(argv: list[str] | None) -> int:
    # A TERM (a closed terminal, a CI timeout) ends the grader like Ctrl+C does: pytest
    # stops cleanly, and every server it started is killed with its process group.
    signal.signal(signal.SIGTERM, _terminate)
    # Ctrl+C interrupts even when the grader was started with SIGINT ignored (some test runners and
    # job runners pass that on): an interrupt must always end the run cleanly.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    options = parse_args(argv)
    try:
        if options.list:
            for stage in load_stages():
                print(f"{stage.id:<18} {stage.title}")
            return 0
        stages = [stage_by_id(name) for name in options.stages] or load_stages()
    except (KeyError, StageDataError) as error:
        print(error.args[0], file=sys.stderr)
        return 2
    detailed = options.details or (len(stages) == 1 and not options.summary)
    printer = Printer(stages, detailed)
    # The fork server first, before this process even loads pytest: it loads uvicorn and the
    # MCP SDK on the other core meanwhile, and then starts every process in a fraction of the time.
    forking = worth_a_fork_server(stages)
    if forking:
        start_fork_server()
    from grader.session import GradingSession

    session = GradingSession(stages, options.workdir, options.reference, on_result=printer.on_result)
    try:
        # Servers next: they boot while pytest and the MCP client libraries load.
        if forking:
            load_while_the_fork_server_warms_up()
        session.prelaunch()
        print(f"Grading {options.workdir} ({len(stages)} stage{'s' if len(stages) > 1 else ''})\n")
        code = run_checks(session)
        printer.finish_stage()
        if code == 2:  # pytest caught a Ctrl+C
            raise KeyboardInterrupt
        if code in (3, 4) or not session.results:  # internal error, usage error
            raise RuntimeError(f"the checks did not run (pytest exit code {code})")
    except BaseException as error:
        if options.json:
            options.json.write_text(json.dumps(gradescope(session.scored_results(), error), indent=2))
        if isinstance(error, KeyboardInterrupt):
            print("\ninterrupted", file=sys.stderr)
            return 130
        print(f"\nThe grader itself failed: {error}", file=sys.stderr)
        return 2
    results = session.scored_results()
    report = gradescope(results)
    if options.json:
        options.json.write_text(json.dumps(report, indent=2))
    all_passed = all(result.passed for result in results)
    first = None
    if not detailed:
        first = next((stage for stage in stages
                      if any(not r.passed for r in results if r.stage == stage.id)), None)
        if first is not None:
            printer.write()
            printer.hints_shown.clear()
            printer.stage_header(first, stages.index(first) + 1)
            previous = None
            for result in results:
                if result.stage == first.id:
                    printer.check_line(result, previous)
                    previous = result
    style = printer.style
    if not detailed:  # a passed check's warning is not in the details above: say it once here
        for result in results:
            if result.warning and not (first is not None and result.stage == first.id):
                printer.write(style.yellow(f"\nwarning ({result.stage}: {result.title}): {result.warning}"))
    if keeping_files():
        printer.write(style.dim(f"\nThis run's files (logs, key stores) are kept in {run_dir()}"))
    printer.write(f"\nScore: {report['score']:g}/{report['max_score']:g}. " + (
        style.green("Every check passes.") if all_passed else
        "Fix the first ✘ above, then run the grader again" + (
            f" (`make grade STAGE={first.id}` shows one stage)." if not detailed and first else ".")))
    return 0 if all_passed else 1
