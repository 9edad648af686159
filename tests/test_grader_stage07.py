"""The grader judges stage 07 right: each half of a challenge earns its own points, and a fix must stop the class.

Each mistake below is a submission built from the reference (tests/broken/07-attack-lab/), graded as
`make grade` grades it; the reference's own grading shows that its exploits capture every flag from
the vulnerable target and capture nothing from the fixed server.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from grader.checks.test_07_attack_lab import CHALLENGES
from grader.stages import ROOT, SOLUTIONS
from tests.conftest import committed_exercises, grade

STAGE = "07-attack-lab"
SERVER_FILES = ("access.py", "reports.py", "upstream.py")
EXPLOITS = [challenge.exploit for challenge in CHALLENGES]


def failed(run, title: str, *words: str) -> dict:
    check = run.check(title)
    assert check["status"] == "failed", run.stdout
    for word in words:
        assert word in check["output"], check["output"]
    return check


def passed(run, title: str) -> None:
    check = run.check(title)
    assert check["status"] == "passed", check["output"]


def fix_title(name: str) -> str:
    return f"fix {name}: the grader's attacks of that class and your own exploit capture nothing"


def exploit_title(script: str) -> str:
    return f"{script} captures its flag from the vulnerable server"


def mixed(tmp_path: Path, *, server_from: Path, exploits_from: Path) -> Path:
    """A submission whose server files come from one folder and whose exploits from another."""
    workdir = tmp_path / "mixed"
    shutil.copytree(SOLUTIONS / STAGE, workdir / STAGE, ignore=shutil.ignore_patterns("__pycache__"))
    for name in SERVER_FILES:
        shutil.copy(server_from / STAGE / name, workdir / STAGE / name)
    for name in EXPLOITS:
        shutil.copy(exploits_from / STAGE / name, workdir / STAGE / name)
    return workdir


def test_the_reference_exploits_capture_every_flag_and_nothing_once_the_server_is_fixed(tmp_path):
    run = grade(SOLUTIONS, STAGE, tmp_path=tmp_path)
    assert run.returncode == 0, run.stdout
    for script in EXPLOITS:
        passed(run, exploit_title(script))  # against the vulnerable target
    for challenge in CHALLENGES:
        passed(run, fix_title(challenge.name.replace("_", " ")))  # replayed against the fixed reference
    assert run.report["score"] == run.report["max_score"] == 30


def test_exploits_without_a_fix_earn_the_exploit_half_only(tmp_path):
    run = grade(mixed(tmp_path, server_from=committed_exercises(), exploits_from=SOLUTIONS), STAGE,
                tmp_path=tmp_path)
    for script in EXPLOITS:
        passed(run, exploit_title(script))
    failed(run, fix_title("published key"), "lab-demo-key-2026", "200")
    failed(run, fix_title("report handle"), "FLAG{")
    failed(run, fix_title("upstream token"), "Authorization: Bearer")
    assert run.report["score"] == 15, run.stdout


def test_a_fix_without_exploits_earns_the_fix_half_only(tmp_path):
    run = grade(mixed(tmp_path, server_from=SOLUTIONS, exploits_from=committed_exercises()), STAGE,
                tmp_path=tmp_path)
    for script in EXPLOITS:
        failed(run, exploit_title(script), "not written yet")
    for challenge in CHALLENGES:
        passed(run, fix_title(challenge.name.replace("_", " ")))
    assert run.report["score"] == 15, run.stdout


@pytest.mark.parametrize("case, words", [
    ("upstream-checked-by-prefix", ["one more digit", "Authorization: Bearer"]),
    ("upstream-checked-by-host-only", ["the service's host, another port"]),
    ("upstream-checked-by-port-only", ["the service's port on", "loopback"]),
    ("upstream-checked-after-sending", ["a listener of the attacker's", "Authorization: Bearer"]),
])
def test_a_link_check_that_a_variant_gets_past_fails_the_fix(grade_case, case, words):
    """The student's exploit (a listener on another port) may be blocked; the class is not."""
    run = grade_case(STAGE, case)
    failed(run, fix_title("upstream token"), *words)
    passed(run, fix_title("report handle"))
    assert run.report["score"] == 25


def test_unguessable_handles_without_an_owner_check_fail(grade_case):
    run = grade_case(STAGE, "report-handles-random-but-unbound")
    failed(run, fix_title("report handle"), "the handle of a report the admin wrote", "FLAG{")


def test_refusing_someone_elses_handle_differently_from_an_unknown_one_fails(grade_case):
    run = grade_case(STAGE, "report-says-not-yours")
    failed(run, fix_title("report handle"), "never issued")


def test_another_published_key_fails_like_the_demo_key(grade_case):
    run = grade_case(STAGE, "published-key-renamed")
    failed(run, fix_title("published key"), "try-me-lab-2026", "public page")


def test_a_server_that_refuses_everyone_earns_no_fix_points(grade_case):
    run = grade_case(STAGE, "refuses-everyone")
    for challenge in CHALLENGES:
        failed(run, fix_title(challenge.name.replace("_", " ")), "the honest use must keep working")
    assert run.report["score"] < 15


@pytest.mark.parametrize("case", ["alt-origin-by-urlsplit", "alt-reports-kept-per-owner"])
def test_a_correct_alternative_fix_passes(grade_case, case):
    run = grade_case(STAGE, case)
    assert run.returncode == 0, run.stdout
    assert run.report["score"] == run.report["max_score"]


def test_the_target_is_the_starters_server_as_handed_out():
    """Exploits are graded against workshop/attack_lab/target/: it must be the starter, byte for byte."""
    starters = committed_exercises() / STAGE
    for name in ("lab_server.py", *SERVER_FILES):
        assert (ROOT / "workshop/attack_lab/target" / name).read_bytes() == (starters / name).read_bytes(), name
