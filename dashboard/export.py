"""The class grader's gradebook CSV and HTML report (classroom/report.py), written from live data.

An adapter, not a copy: each student's latest verdict per stage becomes the Gradescope-style report
the class grader keeps (grader/report.py's CheckRecord.to_json, without output: the dashboard never
has any), wrapped in classroom.graded.Graded; classroom.report's own writers do the rest. "seconds" is
the time from the student's first report to the last; the note says the grades come from live reports.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

from classroom.graded import Graded
from grader.report import CheckRecord, Report
from grader.stages import load_stages

from dashboard.roster import Roster

NOTE = "live report"


def graded(roster: Roster) -> list[Graded]:
    stages = load_stages()
    results = []
    for seat in sorted(roster.seats.values(), key=lambda seat: seat.student):
        records = [CheckRecord(stage=stage.id, check=check.check, outcome=check.outcome, score=check.score,
                               max_score=check.max_score)
                   for stage in stages if stage.id in seat.verdicts for check in seat.verdicts[stage.id].checks]
        report = Report(records)
        points = {stage.id: round(sum(record.score for record in report.of_stage(stage.id)), 4) for stage in stages
                  if stage.id in seat.verdicts}
        results.append(Graded(seat.student, report.to_json(), seat.last - seat.first_report, NOTE, points))
    return results


def gradebook_csv(roster: Roster) -> str:
    from classroom.report import write_gradebook  # matplotlib comes with it: only when asked for an export

    with tempfile.TemporaryDirectory(prefix="dashboard-export-") as folder:
        path = Path(folder) / "gradebook.csv"
        write_gradebook(graded(roster), load_stages(), path)
        return path.read_text(encoding="utf-8")


def report_html(roster: Roster) -> str:
    from classroom.report import report_html as write_html, summary_png

    results = graded(roster)
    return write_html(results, load_stages(), summary_png(as_plain_labels(results)),
                      f"From the class dashboard's live reports ({len(results)} students).")


def as_plain_labels(results: list[Graded]) -> list[Graded]:
    """The chart's copy, with every "$" escaped: matplotlib reads "$...$" in a label as mathtext, so a student's
    check named "$x^$" made the instructor's report a 500 (and "$\\sqrt{...}$" costs CPU). The HTML keeps the name."""
    def plain(test: dict) -> dict:
        return {**test, "name": str(test.get("name", "")).replace("$", r"\$")}

    return [replace(result, report={**result.report, "tests": [plain(test) for test in result.report.get("tests", ())]})
            for result in results]
