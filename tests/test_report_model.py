"""The grader's report has one model (grader/report.py): written once, read back whole, and never re-parsed from text."""

import re
from pathlib import Path

import pytest

from grader.report import CheckRecord, Report
from grader.stages import ROOT

FAILED = CheckRecord(stage="01-middleware", check="a wrong key is refused", outcome="failed", score=0.0,
                     max_score=0.5, output="sent:     GET /items/\ngot:      200 OK", sent="GET /items/ (X-API-Key: 'x')",
                     got="200 OK", expected="401 Unauthorized", hint="Compare the whole key.", hint_topic="compare")


def test_a_report_reads_back_exactly_what_was_written():
    notice = CheckRecord(stage="", check="grader", outcome="not run", output="Traceback ...")
    written = Report([FAILED, notice]).to_json()
    assert written["tests"][0]["name"] == "01-middleware: a wrong key is refused"
    assert Report.from_json(written).checks == [FAILED, notice]
    assert Report.from_json(written).stages() == ["01-middleware"]
    assert Report.from_json(written).notes() == [notice]


@pytest.mark.parametrize("garbage", [None, [], {"tests": "x"}, {"tests": [1, "a", None]},
                                     {"tests": [{"name": 5, "score": "10", "extra_data": "x"}]}])
def test_a_report_of_the_wrong_shape_reads_as_empty_fields_never_an_exception(garbage):
    report = Report.from_json(garbage)
    assert all(isinstance(check.check, str) and check.score == 0.0 for check in report.checks)


def test_a_check_named_like_a_stage_without_the_grader_fields_belongs_to_no_stage():
    """The stage comes from the record the grader wrote, not from a name anyone can type."""
    forged = {"tests": [{"name": "01-middleware: every check", "score": 20, "max_score": 20, "status": "passed"}]}
    assert Report.from_json(forged).checks[0].stage == ""


# Where a reader would re-parse what the grader printed: a check's name split at ": ", its output's labels.
PARSING = re.compile(r'''split\(": "|partition\(": "\)|startswith\("(sent|got|expected|hint):''')


def test_no_reader_parses_the_report_from_its_text():
    readers = [path for folder in ("grader", "classroom", "bench", "course") for path in (ROOT / folder).rglob("*.py")]
    found = [f"{path.relative_to(ROOT)}:{number}: {line.strip()}" for path in readers
             for number, line in enumerate(path.read_text().splitlines(), 1) if PARSING.search(line)]
    assert not found, "\n".join(found)
