"""The class dashboard (issue 26): students report, the instructor reads, and everything else is refused
the way the lessons teach (lessons/dashboard/README.md). The browser test is test_dashboard_browser.py."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import stat
import subprocess
import sys

import httpx
import pytest

from course.loop import class_feed
from course.loop.grading import Check
from grader.stages import ROOT
from tests.dashboard_helpers import instructor, shown, start, verdict

STUDENTS = ["alice", "bob", "carol"]


@pytest.fixture
def board(tmp_path):
    running = start(tmp_path / "dashboard", STUDENTS, report_limit="5/minute")
    yield running
    running.stop()


def test_a_students_verdict_is_accepted_and_shown_on_the_instructors_page(board):
    answer = board.post("alice", verdict(hints={"register": 2}))
    assert answer.status_code == 202, shown(answer)
    page = httpx.get(board.url + "/", headers=instructor(board))
    assert page.status_code == 200, shown(page)
    assert 'data-student="alice"' in page.text and "check 1" in page.text and "register 2" in page.text
    last = board.audit()[-1]
    assert (last["student"], last["action"], last["outcome"]) == ("alice", "POST /api/verdicts",
                                                                  "accepted (01-middleware)"), last


def test_a_report_naming_another_student_is_refused_403_and_audited(board):
    answer = board.post("alice", {**verdict(), "student": "bob"})
    assert answer.status_code == 403, shown(answer)
    assert answer.json() == {"detail": "A key reports only as its own student."}
    assert board.audit()[-1]["student"] == "alice" and board.audit()[-1]["outcome"] == "refused (reports as 'bob')"
    assert "bob" not in httpx.get(board.url + "/", headers=instructor(board)).text.split("<tbody>")[1]
    assert board.post("alice", {**verdict(), "student": "alice"}).status_code == 202  # its own name is fine


def test_a_revoked_key_is_refused_401_with_a_bearer_challenge(board):
    assert board.post("bob", verdict()).status_code == 202
    assert board.keys.revoke("bob")  # as `python -m dashboard keys revoke bob` does, while the server runs
    answer = board.post("bob", verdict())
    assert answer.status_code == 401, shown(answer)
    assert answer.headers["www-authenticate"] == ('Bearer realm="dashboard", error="invalid_token", '
                                                  'error_description="revoked key"')
    assert board.audit()[-1]["outcome"] == "refused (revoked key)"


def test_no_key_is_refused_401_with_a_bearer_challenge(board):
    answer = httpx.post(board.url + "/api/verdicts", json=verdict())
    assert answer.status_code == 401, shown(answer)
    assert answer.headers["www-authenticate"] == 'Bearer realm="dashboard"'


@pytest.mark.parametrize("key", ["dsk_notakey", "dsk_AAAAAAAAAAAA_" + "A" * 32, "dik_AAAAAAAAAAAA_" + "A" * 32])
def test_a_key_the_dashboard_did_not_issue_is_refused_401_invalid_token(board, key):
    answer = board.post("alice", verdict(), key=key)
    assert answer.status_code == 401, shown(answer)
    assert 'error="invalid_token"' in answer.headers["www-authenticate"]


def test_a_foreign_origin_is_refused_403_even_with_a_valid_key(board):
    answer = board.post("alice", verdict(), headers={"Origin": "http://evil.example"})
    assert answer.status_code == 403, shown(answer)
    assert "Origin" in answer.json()["detail"]
    assert board.audit()[-1]["outcome"] == "refused (Origin: http://evil.example)"
    same = board.post("alice", verdict(), headers={"Origin": board.url})
    assert same.status_code == 202, shown(same)


def test_a_host_outside_the_allow_list_is_refused_421(board):
    answer = board.post("alice", verdict(), headers={"Host": "evil.example"})
    assert answer.status_code == 421, shown(answer)
    page = httpx.get(board.url + "/", headers={**instructor(board), "Host": "rebound.example:80"})
    assert page.status_code == 421, shown(page)


def test_a_flood_from_one_key_gets_429_with_retry_after_and_others_still_report(board):
    answers = [board.post("carol", verdict()) for _ in range(8)]
    assert [answer.status_code for answer in answers] == [202] * 5 + [429] * 3, [shown(a) for a in answers]
    assert 1 <= int(answers[-1].headers["retry-after"]) <= 60
    assert board.post("alice", verdict()).status_code == 202
    throttled = [line for line in board.audit() if line["outcome"].startswith("throttled")]
    assert len(throttled) == 1 and throttled[0]["student"] == "carol"  # one line per burst, not one per request


@pytest.mark.parametrize("path", ["/", "/events", "/export/gradebook.csv", "/export/report.html"])
def test_a_student_key_reads_nothing_and_no_key_gets_a_challenge(board, path):
    as_student = httpx.get(board.url + path, headers={"Authorization": f"Bearer {board.student_keys['alice']}"})
    assert as_student.status_code == 403, shown(as_student)
    assert board.audit()[-1]["student"] == "alice" and "asked to read" in board.audit()[-1]["outcome"]
    anonymous = httpx.get(board.url + path)
    assert anonymous.status_code == 401, shown(anonymous)
    assert anonymous.headers["www-authenticate"] == 'Bearer realm="dashboard instructor"'


@pytest.mark.parametrize("change", [
    {"stage": "99-nope"}, {"extra": "field"}, {"checks": []},
    {"checks": [{"check": "x", "outcome": "exploded"}]},
    {"checks": [{"check": "x", "outcome": "passed", "output": "API_KEY=secret"}]},
    {"checks": [{"check": "x" * 201, "outcome": "passed"}]},
    {"hints": {"register": 9}},
], ids=["unknown stage", "unknown field", "no checks", "unknown outcome", "output field", "long name", "hint level"])
def test_a_summary_outside_the_model_is_refused_422_without_echoing_it(board, change):
    answer = board.post("alice", {**verdict(), **change})
    assert answer.status_code == 422, shown(answer)
    assert "secret" not in answer.text and "99-nope" not in answer.text


def test_an_oversized_body_is_refused_413(board):
    answer = httpx.post(board.url + "/api/verdicts", content=b"{" + b" " * 70_000 + b"}",
                        headers={"Authorization": f"Bearer {board.student_keys['alice']}",
                                 "Content-Type": "application/json"})
    assert answer.status_code == 413, shown(answer)


def test_markup_in_a_check_name_is_escaped_in_the_page_and_the_page_forbids_inline_script(board):
    evil = '<img src=x onerror=alert(1)>'
    assert board.post("alice", verdict(names=["fine", evil, "</script><script>alert(2)</script>"])).status_code == 202
    page = httpx.get(board.url + "/", headers=instructor(board))
    assert evil not in page.text and "<script>alert" not in page.text, page.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.text
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"


def test_the_instructor_logs_in_once_for_an_httponly_samesite_strict_session(board):
    with httpx.Client(base_url=board.url) as browser:
        wrong = browser.post("/login", data={"key": "dik_wrong"})
        assert wrong.status_code == 401 and "Bearer" in wrong.headers["www-authenticate"], shown(wrong)
        foreign = browser.post("/login", data={"key": board.instructor_key}, headers={"Origin": "http://evil.example"})
        assert foreign.status_code == 403, shown(foreign)
        answer = browser.post("/login", data={"key": board.instructor_key})
        assert answer.status_code == 303, shown(answer)
        cookie = answer.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and board.instructor_key.lower() not in cookie
        assert browser.get("/").status_code == 200
        browser.post("/logout")
        assert browser.get("/").status_code == 401


def test_the_exports_are_the_class_graders_gradebook_and_report_from_live_data(board):
    board.post("alice", verdict(failing=None))
    board.post("bob", verdict(failing=2))
    book = httpx.get(board.url + "/export/gradebook.csv", headers=instructor(board))
    assert book.status_code == 200 and book.headers["content-type"].startswith("text/csv"), shown(book)
    rows = list(csv.DictReader(io.StringIO(book.text)))
    assert [row["student"] for row in rows] == ["alice", "bob"]
    assert (rows[0]["01-middleware"], rows[0]["total"], rows[1]["total"]) == ("5", "5", "2")
    report = httpx.get(board.url + "/export/report.html", headers=instructor(board))
    assert report.status_code == 200 and "Class report" in report.text and "sandbox" in report.headers[
        "content-security-policy"], shown(report)


def test_the_keys_file_holds_hashes_only_and_is_owner_only(board):
    text = (board.folder / "keys.json").read_text()
    for key in [board.instructor_key, *board.student_keys.values()]:
        assert key not in text
    assert stat.S_IMODE((board.folder / "keys.json").stat().st_mode) == 0o600
    board.post("alice", verdict())
    assert stat.S_IMODE((board.folder / "audit.jsonl").stat().st_mode) == 0o600
    assert not any(key in (board.folder / "audit.jsonl").read_text() for key in board.student_keys.values())


def test_the_cli_issues_lists_and_revokes_keys(tmp_path):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "dashboard", "--dir", str(tmp_path), "keys", *args], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)

    issued = cli("issue", "dora")
    assert issued.returncode == 0 and "CLASS_KEY=dsk_" in issued.stdout, issued.stdout + issued.stderr
    assert "dora" in cli("list").stdout and " active " in cli("list").stdout
    assert cli("revoke", "dora").returncode == 0
    assert " revoked " in cli("list").stdout
    assert cli("issue", "<b>").returncode == 2  # a student's name is plain


def test_the_student_loop_sends_names_outcomes_points_and_hints_never_output(board, tmp_path, monkeypatch):
    monkeypatch.setenv("CLASS_URL", board.url)
    monkeypatch.setenv("CLASS_KEY", board.student_keys["alice"])
    leaky = Check("01-middleware", "GET / is refused", "failed", "failed", output="API_KEY=hunter2-secret",
                  sent="X-API-Key: hunter2-secret", got="200", expected="401", hint="h", score=0, max_score=2)
    body = class_feed.summary("01-middleware", [leaky], {"register": 1})
    assert "hunter2" not in json.dumps(body) and set(body["checks"][0]) == {"check", "outcome", "score",
                                                                           "max_score"}
    assert class_feed.send(tmp_path, "01-middleware", [leaky], {"register": 1}) is True
    page = httpx.get(board.url + "/", headers=instructor(board)).text
    assert "GET / is refused" in page and "hunter2" not in page


def test_a_dashboard_that_is_down_costs_one_line_and_changes_nothing_else(tmp_path, monkeypatch):
    from grader.harness import free_port

    monkeypatch.delenv("CLASS_URL", raising=False)
    monkeypatch.delenv("CLASS_KEY", raising=False)
    (tmp_path / "class.toml").write_text(f'url = "http://127.0.0.1:{free_port()}"\nkey = "dsk_x"\n')
    said = []
    assert class_feed.send(tmp_path, "01-middleware", [], {}, say=said.append) is False
    assert len(said) == 1 and said[0].startswith("(class dashboard: not sent"), said
    assert class_feed.send(tmp_path / "elsewhere", "01-middleware", [], {}, say=said.append) is None  # not opted in


def test_make_help_and_the_readme_name_the_dashboard():
    help_text = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True).stdout
    assert "make dashboard" in help_text and "make dashboard-keys" in help_text
    readme = (ROOT / "README.md").read_text()
    assert "make dashboard" in readme and "CLASS_URL" in readme and "lessons/dashboard" in readme
    assert os.path.isfile(ROOT / "lessons" / "dashboard" / "README.md")


def test_the_dashboard_benchmark_runs_on_a_tiny_room_and_writes_its_table_and_chart(tmp_path):
    """`make bench`'s dashboard section on quick settings (5 students): it runs and says what it measured;
    no timing is asserted here (a benchmark, not a test of speed)."""
    run = subprocess.run([sys.executable, "-m", "bench", "--quick", "--only", "dashboard", "--out", str(tmp_path)],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert (tmp_path / "dashboard.md").read_text().count("|") > 10, run.stdout
    assert (tmp_path / "dashboard.png").read_bytes()[:4] == b"\x89PNG", run.stdout
    rows = json.loads((tmp_path / "results.json").read_text())["dashboard"]["rows"]
    assert [row["rhythm"] for row in rows] == ["steady", "burst"] and all(row["reports"] == 10 for row in rows)
    assert "p99 of a report" in run.stdout and "of a page update" in run.stdout, run.stdout


def test_nothing_a_student_runs_imports_the_dashboard():
    """An instructor product: the stages, the runtime, the grader and the student's loop never import it."""
    importers = [str(path.relative_to(ROOT)) for folder in ("workshop", "exercises", "solutions", "grader", "course")
                 for path in (ROOT / folder).rglob("*.py")
                 if re.search(r"^\s*(from|import)\s+dashboard\b", path.read_text(errors="replace"), re.M)]
    assert not importers, importers


def test_make_watch_reports_each_verdict_and_its_exit_status_stays_the_graders(board, tmp_path):
    """The real loop, opted in: `watch --once` on stage 01's starter sends its verdict and still exits 1."""
    import shutil

    from tests.conftest import committed_exercises

    workdir = tmp_path / "exercises"
    shutil.copytree(committed_exercises() / "01-middleware", workdir / "01-middleware")
    env = {**os.environ, "CLASS_URL": board.url, "CLASS_KEY": board.student_keys["bob"], "NO_COLOR": "1",
           "WORKSHOP_STATE": str(tmp_path / "progress.json")}
    once = subprocess.run([sys.executable, "-m", "course.loop.watch", "01", "--workdir", str(workdir), "--once"],
                          cwd=ROOT, capture_output=True, text=True, env=env, timeout=240)
    assert once.returncode == 1 and "class dashboard" not in once.stdout, once.stdout + once.stderr
    page = httpx.get(board.url + "/", headers=instructor(board)).text
    assert 'data-student="bob"' in page and "01-middleware" in page, page
    assert board.audit()[-1]["outcome"] == "accepted (01-middleware)"
    board.keys.revoke("bob")  # now refused: one line below the verdict, the same exit status
    again = subprocess.run([sys.executable, "-m", "course.loop.watch", "01", "--workdir", str(workdir), "--once"],
                           cwd=ROOT, capture_output=True, text=True, env=env, timeout=240)
    assert again.returncode == 1, again.stdout + again.stderr
    assert again.stdout.count("(class dashboard: not sent") == 1 and "answered 401" in again.stdout, again.stdout
