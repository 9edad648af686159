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
        # Unguessable handles (defence in depth: a handle still leaks, into logs, screenshots, chats).
        handle = secrets.token_urlsafe(16)
        report = Report(handle, owner, title, body)
        self._reports[handle] = report
        return report

    def handles_of(self, owner: str) -> list[str]:
        return [report.handle for report in self._reports.values() if report.owner == owner]

    def read(self, handle: str, caller: str) -> Report | None:
        """The report HANDLE names, if CALLER wrote it; None otherwise, exactly as for a handle never issued."""
        report = self._reports.get(handle)
        # Bound to its owner: someone else's handle gets the answer an unknown one gets (no "not yours").
        if report is None or report.owner != caller:
            return None
        return report
