"""One grading run: what is graded, with which key, on which servers, and what came of each check.

The CLI builds a GradingSession, starts the servers through it, and hands it to
pytest as a plugin. The checks reach it through the `session` fixture; the
results it records are the only source of the report. A check counts as passed
only once pytest has run it to the end and it passed: a check that never ran
(an interrupt, a time limit, a grader error) stays "not run" and earns nothing.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from grader.launch import Launch
from grader.redaction import redact
from grader.stage_env import RunValues
from grader.stages import Stage, stage_of_checks
from grader.verdict import WARNING, CheckFailed

OUTCOMES = ("passed", "failed", "blocked", "not run")


@dataclass
class CheckResult:
    stage: str
    title: str
    scored: bool = True  # False: the untouched starter already passes it, so it is worth nothing
    gate: bool = False  # failing it takes the stage's points (the server died during grading)
    weight: float = 1.0  # how many ordinary checks it counts as (a whole idea, not one row of a table)
    outcome: str = "not run"  # passed | failed | blocked | not run
    output: str = ""
    warning: str = ""  # passed, but something outside the student's code kept part of it from running
    failure: CheckFailed | None = None
    score: float = 0.0
    max_score: float = 0.0

    @property
    def passed(self) -> bool:
        return self.outcome == "passed"


def run_pytest(args: list[str], plugins: list[object]) -> int:
    """pytest.main(ARGS) for the checks, with nothing taken from the environment: pytest.main() also reads
    PYTEST_ADDOPTS and PYTEST_PLUGINS, and options or plugins a shell set for another pytest would change or stop
    the grader's (`--dist` alone ended every grading: 'unrecognized arguments')."""
    for name in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS"):
        os.environ.pop(name, None)
    return int(pytest.main(args, plugins=plugins))


def _random_root_path() -> str:
    # A reverse proxy's prefix a submission cannot know in advance.
    return f"/{secrets.choice(['api', 'gw', 'svc', 'edge'])}-{secrets.token_hex(3)}"


@dataclass(eq=False)  # a pytest plugin must be hashable
class GradingSession:
    """The run, and the pytest plugin that records it."""

    stages: list[Stage]
    workdir: Path
    reference: Path
    key: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    root_path: str = field(default_factory=_random_root_path)
    marker: str = field(default_factory=lambda: secrets.token_hex(4))  # tags the grader's own key-in-URL probes
    # A note the recorded weather carries this run only (see grader.stage_env.RunValues).
    forecast_note: str = field(default_factory=lambda: f"(recorded for run {secrets.token_hex(5)})")
    # Random per run: what a stage derives its servers' own secrets from (stage 07's flags).
    seed: str = field(default_factory=lambda: secrets.token_hex(16))
    started_at: float = field(default_factory=time.time)  # files a submission writes after this are read for leaks
    on_result: Callable[[CheckResult], None] | None = None
    launches: dict[str, Launch] = field(default_factory=dict)
    results: dict[str, CheckResult] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)

    # -- servers ---------------------------------------------------------------------------------

    def prelaunch(self) -> None:
        """Start every stage's main servers now, and the first stage's other servers too.

        (Later stages start their other servers when their checks begin: starting all
        of them at once would only make the first stage wait for the CPU.)
        """
        for index, stage in enumerate(self.stages):
            launch = self.launch(stage)
            if index == 0:
                launch.start_extras()

    def launch(self, stage: Stage) -> Launch:
        if stage.id not in self.launches:
            self.launches[stage.id] = Launch(stage, self.workdir.resolve() / stage.id,
                                             self.reference.resolve() / stage.id,
                                             run=RunValues(self.key, self.forecast_note, self.seed), root_path=self.root_path)
        return self.launches[stage.id]

    def stop(self) -> None:
        for launch in self.launches.values():
            launch.stop()

    # -- pytest plugin: fixtures ------------------------------------------------------------------

    @pytest.fixture(scope="session", name="session")
    def _session_fixture(self) -> "GradingSession":
        return self

    # -- pytest plugin: results --------------------------------------------------------------------

    @staticmethod
    def title_of(item: pytest.Item) -> str:
        doc = (getattr(item.function, "__doc__", None) or item.name).strip().splitlines()[0]
        callspec = getattr(item, "callspec", None)
        return doc.replace("{id}", callspec.id) if callspec else doc

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items):
        for item in items:
            stage = stage_of_checks(item.path)
            self.results[item.nodeid] = CheckResult(stage=stage.id, title=self.title_of(item),
                                                    scored=item.get_closest_marker("unscored") is None,
                                                    gate=item.get_closest_marker("gate") is not None,
                                                    weight=float(weight.args[0]) if (weight := item.get_closest_marker(
                                                        "weight")) else 1.0)
            self.order.append(item.nodeid)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        result = self.results.get(item.nodeid)
        if result is None:
            return
        if report.skipped and result.outcome == "not run":
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            reason = reason.removeprefix("Skipped: ")
            if reason.startswith(WARNING) and call.when == "call":
                result.outcome, result.warning = "pending", redact(reason.removeprefix(WARNING), self.key)
            else:
                self._record(result, "blocked", reason)
        elif report.failed and result.outcome in ("not run", "pending"):
            error = call.excinfo.value if call.excinfo else None
            if isinstance(error, CheckFailed):
                self._record(result, "failed", str(error), error)
            else:
                self._record(result, "failed", report.longreprtext)
        elif report.passed and call.when == "call" and result.outcome == "not run":
            result.outcome = "pending"  # passed, once its teardown is through too
        if call.when == "teardown":
            if result.outcome == "pending":
                result.outcome = "passed"
            if self.on_result:
                self.on_result(result)

    def _record(self, result: CheckResult, outcome: str, output: str, failure: CheckFailed | None = None) -> None:
        """Whatever a check shows (a log's tail, an answer), the key is never in it."""
        result.outcome, result.output = outcome, redact(output, self.key)
        if failure is not None:
            for part in ("sent", "got", "expected"):
                setattr(failure, part, redact(getattr(failure, part), self.key))
            result.failure = failure

    def ordered_results(self) -> list[CheckResult]:
        results = [self.results[nodeid] for nodeid in self.order]
        for result in results:
            if result.outcome == "pending":  # interrupted during its teardown: it did not finish
                result.outcome = "not run"
        return results

    # -- scores ------------------------------------------------------------------------------------

    @staticmethod
    def keeps_working(results: list[CheckResult]) -> float:
        """What share of the stage's points its work keeps: the checks the starter already passes
        (the right key gets in, the tools still work) earn nothing themselves, but breaking them
        costs their share (a guard that refuses everyone is not done), and a failed gate (the
        server died, the key leaked) costs everything."""
        kept = [result for result in results if not result.scored]
        if any(result.gate and result.outcome != "passed" and result.outcome != "not run" for result in kept):
            return 0.0
        plain = [result for result in kept if not result.gate and result.outcome != "not run"]
        return sum(result.passed for result in plain) / len(plain) if plain else 1.0

    def scored_results(self) -> list[CheckResult]:
        """Every result with its points; a stage whose checks were never collected stands as one
        check that did not run, worth the stage's points, so max_score always matches the stage data."""
        results = self.ordered_results()
        for stage in self.stages:
            mine = [result for result in results if result.stage == stage.id]
            if not any(result.scored for result in mine):
                placeholder = CheckResult(stage=stage.id, title="the stage's checks", output="not run: the grader "
                                          "stopped before this stage's checks were collected")
                results.append(placeholder)
                mine.append(placeholder)
            total = sum(result.weight for result in mine if result.scored)
            kept = self.keeps_working(mine)
            for result in mine:
                result.max_score = stage.points * result.weight / total if result.scored else 0.0
                result.score = result.max_score * kept if result.passed and result.scored else 0.0
        return results
