"""Reports: one tool call writes a report and gets back its handle; a later call reads it by that handle.

Challenge 2 (exploit_report_handle.py): a handle names a report; it does not prove you may read it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass


@dataclass(frozen=True)
class Report:
    handle: str
    owner: str
    title: str
    body: str


class ReportStore:
    def __init__(self) -> None:
        self._reports: dict[str, Report] = {}

    def create(self, owner: str, title: str, body: str) -> Report:
        # TODO(fix 2): handles are counted up: anyone can name a report they never saw.
        handle = str(len(self._reports) + 1)
        report = Report(handle, owner, title, body)
        self._reports[handle] = report
        return report

    def handles_of(self, owner: str) -> list[str]:
        return [report.handle for report in self._reports.values() if report.owner == owner]

    def read(self, handle: str, caller: str) -> Report | None:
        """The report HANDLE names, if CALLER wrote it; None otherwise, exactly as for a handle never issued."""
        # TODO(fix 2): exploit this first (exploit_report_handle.py). The docstring above is the
        #      promise; this line keeps half of it.
        return self._reports.get(handle)
