"""Collect check results from pytest, one per check, in the order they ran."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from grader.verdict import CheckFailed


@dataclass
class CheckResult:
    stage: str
    title: str
    status: str = "passed"  # passed | failed | blocked
    output: str = ""
    score: float = 0.0
    max_score: float = 0.0

    @property
    def passed(self) -> bool:
        return self.status == "passed"


@dataclass
class Collector:
    """A pytest plugin object: it records what happened and tells a listener as each check ends."""

    on_result: object = None  # callable(CheckResult) | None
    results: dict[str, CheckResult] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)

    @staticmethod
    def title_of(item: pytest.Item) -> str:
        doc = (getattr(item.function, "__doc__", None) or item.name).strip().splitlines()[0]
        callspec = getattr(item, "callspec", None)
        return doc.replace("{id}", callspec.id) if callspec else doc

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items):
        for item in items:
            stage = getattr(item.module, "STAGE", Path(str(item.fspath)).stem)
            self.results[item.nodeid] = CheckResult(stage=stage, title=self.title_of(item))
            self.order.append(item.nodeid)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        result = self.results.get(item.nodeid)
        if result is None or result.status != "passed":
            pass
        elif report.skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            result.status, result.output = "blocked", reason.removeprefix("Skipped: ")
        elif report.failed:
            result.status = "failed"
            error = call.excinfo.value if call.excinfo else None
            if isinstance(error, CheckFailed):
                result.output = str(error)
            elif isinstance(error, AssertionError) and str(error).startswith("sent:"):
                result.output = str(error)
            else:
                result.output = report.longreprtext
        if call.when == "teardown" and result is not None and self.on_result:
            self.on_result(result)
