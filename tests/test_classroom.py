"""`make grade-class`: a whole class graded in parallel boxes, with a gradebook, a chart and a report.

One class is graded once for the module (10 students, stage 01, 2 at a time):
two solutions (one of which also tries to write outside its copy, and to
everyone's results), the untouched starters, one that does not import, one
that hangs, one that lets everyone in, one that forges its results, and three
starters that serve the reference's code if they can read it (by its path,
through /proc, from git).
"""

import base64
import csv
import hashlib
import json
import os
import shutil
import subprocess
import re
import sys
import tempfile
import time
from pathlib import Path

import pytest

from classroom.sandbox import MARK, detect
from course import bootstrap
from grader import processes
from grader.stages import ROOT, SOLUTIONS
from tests.conftest import BROKEN, committed_exercises, once_per_session, processes_under

STAGE = "01-middleware"
TIME_LIMIT = 45  # seconds per student: the hanging one is stopped here; the others need a fraction of it, even on a busy machine

# Runs at import, in every process the grader starts from this submission: it tries to
# change the instructor's files and the results, and carries on quietly as a solution.
VANDAL = '''
for _path in {paths!r}:
    try:
        with open(_path, "a") as _file:
            _file.write("changed by a student")
    except OSError:
        pass
'''


# Runs at import in the grader's children: finds the grader, writes full marks where its --json goes
# (a file, or the pipe it holds, reopened through /proc), and kills it before it writes its own.
FORGER = '''
def _forge():
    import json, os, signal
    pid = os.getppid()
    while pid > 1:
        try:
            argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\\0")
            parent = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError):
            return
        if b"grader" in argv and b"--json" in argv:
            path = argv[argv.index(b"--json") + 1].decode()
            forged = {"score": 20, "max_score": 20, "tests": [{"name": "01-middleware: every check", "score": 20,
                                                               "max_score": 20, "status": "passed", "output": ""}]}
            for target in (path.replace("/dev/fd/", f"/proc/{pid}/fd/"), path):
                try:
                    with open(target, "w") as out:
                        out.write(json.dumps(forged))
                    break
                except OSError:
                    pass
            os.kill(pid, signal.SIGKILL)
            return
        pid = parent
_forge()
'''


# A starter whose main.py serves the reference's code instead, if it can read it: by the solutions' path,
# through /proc/<pid>/cwd of the reference's server (started beside it), or from the repository's git
# history. Else it serves the starter.
THIEF = '''
import os, sys, time, types


def _take(folder):
    try:
        with open(os.path.join(folder, "auth.py")) as auth, open(os.path.join(folder, "main.py")) as main:
            auth_code, main_code = auth.read(), main.read()
    except OSError:
        return False
    guard = types.ModuleType("auth")
    exec(compile(auth_code, "auth.py", "exec"), guard.__dict__)
    sys.modules["auth"] = guard
    exec(compile(main_code, "main.py", "exec"), globals())
    return True


def _by_path():
    return _take({solutions!r})


def _itself(folder):
    # The grader runs this submission from a second folder too (started without a key): a thief that
    # took that copy would exec itself over and over, and its crash would pass for a refusal to start.
    try:
        with open(os.path.join(folder, "main.py")) as theirs, open(__file__) as mine:
            return theirs.read() == mine.read()
    except OSError:
        return True


def _through_proc():
    mine = os.path.realpath(os.getcwd())
    for _ in range(30):  # the reference's server starts beside this one
        for pid in os.listdir("/proc"):
            try:
                theirs = os.readlink(f"/proc/{{pid}}/cwd")
            except (OSError, ValueError):
                continue
            if os.path.basename(theirs) == {stage!r} and theirs != mine and not _itself(f"/proc/{{pid}}/cwd") \
                    and _take(f"/proc/{{pid}}/cwd"):
                return True
        time.sleep(0.1)
    return False


def _through_git():
    import subprocess, tempfile
    folder = tempfile.mkdtemp()
    for name in ("auth.py", "main.py"):
        shown = subprocess.run(["git", "-c", "safe.directory=*", "-C", {root!r}, "show",
                                f"HEAD:solutions/{stage}/{{name}}"], capture_output=True)
        if shown.returncode != 0:
            return False
        with open(os.path.join(folder, name), "wb") as out:
            out.write(shown.stdout)
    return _take(folder)


if not {how}():
    with open("starter_main.py") as starter:
        exec(compile(starter.read(), "starter_main.py", "exec"), globals())
'''
THIEVES = {"copies-the-solutions": "_by_path", "copies-the-reference-through-proc": "_through_proc",
           "copies-the-solutions-from-git": "_through_git"}


def solution(folder: Path) -> Path:
    shutil.copytree(SOLUTIONS / STAGE, folder / STAGE, ignore=shutil.ignore_patterns("__pycache__"))
    return folder / STAGE


def build_class(root: Path, canaries: list[Path]) -> Path:
    submissions = root / "class"
    solution(submissions / "solution-ada")
    shutil.copytree(committed_exercises() / STAGE, submissions / "starter" / STAGE,
                    ignore=shutil.ignore_patterns("__pycache__"))
    for case in ("does-not-import", "lets-everyone-in"):
        shutil.copytree(BROKEN / STAGE / case, solution(submissions / case), dirs_exist_ok=True)
    hangs = solution(submissions / "hangs") / "main.py"
    hangs.write_text("import time\ntime.sleep(3600)  # never imports, never binds\n" + hangs.read_text())
    forger = submissions / "forges-its-results" / STAGE
    shutil.copytree(committed_exercises() / STAGE, forger, ignore=shutil.ignore_patterns("__pycache__"))
    (forger / "main.py").write_text(FORGER + (forger / "main.py").read_text())
    for student, how in THIEVES.items():
        thief = submissions / student / STAGE
        shutil.copytree(committed_exercises() / STAGE, thief, ignore=shutil.ignore_patterns("__pycache__"))
        (thief / "starter_main.py").write_text((thief / "main.py").read_text())
        (thief / "main.py").write_text(THIEF.format(solutions=str(SOLUTIONS / STAGE), root=str(ROOT), stage=STAGE,
                                                    how=how))
    vandal = solution(submissions / "solution-bob-writes-outside") / "main.py"
    vandal.write_text(VANDAL.format(paths=[str(path) for path in canaries]) + vandal.read_text())
    return submissions


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def grade_the_class(root: Path) -> dict:
    open_folder = root / "open"
    open_folder.mkdir(mode=0o777)
    open_folder.chmod(0o777)
    canaries = [root / "instructor-notes.txt", open_folder / "anyone-may-write.txt"]
    isolation = detect()
    if isolation.namespaces and isolation.user:  # the repository itself only where the box can protect it
        canaries.append(ROOT / "stages.toml")
    for canary in canaries[:2]:
        canary.write_text("the instructor's\n")
    canaries[1].chmod(0o666)  # only the read-only mounts stand in the way here
    results = root / "results"
    canaries.append(results / "solution-ada.json")
    before = {str(path): digest(path) for path in canaries if path.exists()}
    submissions = build_class(root, canaries)
    grading = subprocess.Popen(
        [sys.executable, "-m", "classroom", str(submissions), "--stage", STAGE, "--out", str(results),
         "--jobs", "2", "--time-limit", str(TIME_LIMIT)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "NO_COLOR": "1"})
    output, _ = grading.communicate(timeout=600)
    return {"root": str(root), "returncode": grading.returncode, "output": output, "before": before,
            "pid": grading.pid, "canaries": [str(path) for path in canaries]}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The class, graded once per test session, whichever xdist worker comes first (the others wait)."""
    run = once_per_session(tmp_path_factory, "grade-class", grade_the_class)
    root = Path(run["root"])
    assert run["returncode"] == 0, run["output"]
    return {"results": root / "results", "output": run["output"], "before": run["before"], "pid": run["pid"],
            "canaries": [Path(path) for path in run["canaries"]], "submissions": root / "class",
            "isolation": detect()}


def gradebook(graded) -> dict[str, dict]:
    with (graded["results"] / "gradebook.csv").open() as handle:
        return {row["student"]: row for row in csv.DictReader(handle)}


def test_every_student_gets_a_gradescope_json_and_a_gradebook_row(graded):
    rows = gradebook(graded)
    students = sorted(path.name for path in graded["submissions"].iterdir())
    assert sorted(rows) == students, graded["output"]
    for student in students:
        report = json.loads((graded["results"] / f"{student}.json").read_text())
        assert {"score", "max_score", "tests"} <= set(report), report
        assert report["max_score"] == 20 and all({"name", "score", "status"} <= set(t) for t in report["tests"])
        assert float(rows[student]["total"]) == report["score"] == float(rows[student][STAGE]), rows[student]


def test_the_solutions_get_full_marks_and_the_others_less(graded):
    rows = gradebook(graded)
    for student in ("solution-ada", "solution-bob-writes-outside"):
        assert float(rows[student]["total"]) == 20, (rows[student], graded["output"])
    for student in ("starter", "does-not-import", "hangs", "lets-everyone-in", "forges-its-results"):
        assert float(rows[student]["total"]) < 20, (rows[student], graded["output"])
    assert float(rows["does-not-import"]["total"]) == 0
    assert float(rows["starter"]["total"]) == 0, rows["starter"]  # honest points: an untouched starter earns nothing


def test_a_submission_that_forges_its_results_and_kills_the_grader_gets_nothing_and_a_note(graded):
    row = gradebook(graded)["forges-its-results"]
    assert float(row["total"]) == 0, (row, graded["output"])
    assert "killed (signal 9)" in row["note"], row


def test_a_report_is_distrusted_when_killed_unknown_or_too_fast():
    from classroom.results_channel import distrust
    from grader.report import CheckRecord, Report
    from grader.stages import stage_by_id

    stages = [stage_by_id(STAGE)]
    # As the grader writes them (grader/report.py): the stage and check travel beside the name.
    real = Report([CheckRecord(stage=STAGE, check="a real check", outcome="passed", score=20)]).to_json()
    known = {f"{STAGE}: a real check"}
    assert distrust(real, 1, 12.0, stages, known) == ""
    assert "killed (signal 9)" in distrust(real, 137, 12.0, stages, known)
    assert "killed (signal 9)" in distrust(real, -9, 12.0, stages, known)
    invented = Report([CheckRecord(stage=STAGE, check="every check", outcome="passed", score=20)]).to_json()
    assert "do not exist" in distrust(invented, 0, 12.0, stages, known)
    unnamed = {"tests": [{"name": f"{STAGE}: a real check", "score": 20, "status": "passed"}]}  # no grader fields
    assert "do not exist" in distrust(unnamed, 0, 12.0, stages, known)
    assert "faster than its servers can start" in distrust(real, 0, 0.4, stages, known)
    never_collected = Report([CheckRecord(stage=STAGE, check="the stage's checks", outcome="not run")]).to_json()
    assert distrust(never_collected, 130, 3.0, stages, known) == ""  # an interrupted grading is not a forgery


def test_the_hanging_submission_costs_its_time_limit_and_no_more(graded):
    row = gradebook(graded)["hangs"]
    report = json.loads((graded["results"] / "hangs.json").read_text())
    # The grader itself gives up on an import that hangs (its limits follow the reference's start); the
    # box's wall-time limit is the backstop. Either way: no more than the limit, plus the moment it
    # takes to kill its processes (not a speed goal), and nothing earned.
    assert float(row["seconds"]) < TIME_LIMIT + 10, row
    assert report["score"] == 0, report
    if "time limit" not in row["note"]:
        assert any("did not finish" in test["output"] or "did not start" in test["output"]
                   for test in report["tests"]), report


def test_a_submission_that_writes_outside_its_copy_changes_nothing(graded):
    if not graded["isolation"].namespaces:
        pytest.skip("no box on this machine: " + "; ".join(graded["isolation"].missing))
    after = {str(path): digest(path) for path in graded["canaries"] if path.exists()}
    for path, before in graded["before"].items():
        assert after[path] == before, f"{path} was changed by a student's code"
    ada = json.loads((graded["results"] / "solution-ada.json").read_text())
    assert ada["score"] == 20, ada
    # The writer itself is a working solution otherwise: its failed writes cost it nothing.
    assert float(gradebook(graded)["solution-bob-writes-outside"]["total"]) == 20, graded["output"]


def test_a_submission_cannot_serve_the_solutions_read_by_path_through_proc_or_from_git(graded):
    isolation = graded["isolation"]
    if not (isolation.namespaces and isolation.user):
        pytest.skip("the reference runs apart only in the full box: " + "; ".join(isolation.missing))
    rows = gradebook(graded)
    for student in THIEVES:  # each serves the starter unless it could read the reference's code
        report = json.loads((graded["results"] / f"{student}.json").read_text())
        assert float(rows[student]["total"]) == 0, (rows[student], [test["name"] for test in report["tests"]
                                                                    if test["status"] == "passed"])
    assert float(rows["solution-ada"]["total"]) == 20 and float(rows["starter"]["total"]) == 0, graded["output"]


def test_no_process_of_any_student_survives(graded):
    assert processes_under(graded["submissions"]) == []
    assert boxes_running(graded["pid"]) == [], "processes from a box survived"


def test_the_output_says_how_the_students_were_isolated(graded):
    isolation = detect()
    assert "isolation:" in graded["output"]
    if isolation.namespaces:
        assert "loopback-only network" in graded["output"], graded["output"]
    else:
        assert "NOT AVAILABLE" in graded["output"], graded["output"]


def test_the_png_summary_is_a_chart(graded):
    from matplotlib import image

    png = graded["results"] / "summary.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = image.imread(png)
    assert pixels.shape[0] > 200 and pixels.shape[1] > 400


def test_the_html_report_holds_the_chart_the_table_and_what_came_back(graded):
    page = (graded["results"] / "report.html").read_text()
    chart = base64.b64encode((graded["results"] / "summary.png").read_bytes()).decode()
    assert f"data:image/png;base64,{chart}" in page  # the same chart, inline: no file, no server
    assert '<table id="gradebook">' in page and "addEventListener(\"click\"" in page
    for student in gradebook(graded):
        assert f'id="{student}"' in page, student
    section = page.split('id="lets-everyone-in"', 1)[1].split("<section", 1)[0]
    assert "✘" in section and "got:" in section, section[:2000]
    assert "http://" not in page.replace("http://127.0.0.1", ""), "the report must not load anything"


def chromium() -> str:
    """The browser `make setup-dev` installed (course/bootstrap.py); a test installs nothing itself."""
    found = bootstrap.browser()
    if found is None:
        pytest.skip("no Chromium: `make setup-dev` installs it where it can (Debian, as root)")
    return found


def test_a_browser_renders_the_report_with_its_chart(graded, tmp_path):
    from matplotlib import image

    browser = chromium()
    shot = tmp_path / "report.png"
    done = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1200,900",
         f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
         (graded["results"] / "report.html").as_uri()],
        capture_output=True, text=True, timeout=120)
    assert shot.exists(), done.stderr[-2000:]
    pixels = (image.imread(shot)[:, :, :3] * 255).round()

    def count(rgb):
        return int(((abs(pixels - rgb)).max(axis=2) <= 12).sum())

    # The histogram's blue and the failed checks' red, as the chart draws them: the
    # inline image really rendered (look at the screenshot: it shows the chart).
    assert count((0x3B, 0x7D, 0xD8)) > 500, f"no histogram in the screenshot {shot}"
    assert count((0xD8, 0x55, 0x3B)) > 500, f"no failed-checks bars in the screenshot {shot}"
    if os.environ.get("KEEP_SCREENSHOT"):
        shutil.copy(shot, os.environ["KEEP_SCREENSHOT"])


def boxes_running(owner: int) -> list[str]:
    """Processes in the boxes that the grading process OWNER started (other tests may be grading too)."""
    return [processes.describe(process) for process in processes.carrying(MARK, f"{owner}-", prefix=True)]


def test_a_terminated_class_grading_stops_every_box_at_once(tmp_path):
    submissions = tmp_path / "class"
    hangs = solution(submissions / "hangs") / "main.py"
    hangs.write_text("import time\ntime.sleep(3600)\n" + hangs.read_text())
    grading = subprocess.Popen([sys.executable, "-m", "classroom", str(submissions), "--stage", STAGE,
                                "--out", str(tmp_path / "results")], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while not boxes_running(grading.pid) and time.monotonic() < deadline and grading.poll() is None:
        time.sleep(0.1)
    assert boxes_running(grading.pid), "no box started"
    time.sleep(1)  # the grader inside is starting servers now
    grading.terminate()
    output, _ = grading.communicate(timeout=30)  # not the 300 s time limit
    assert grading.returncode == 130 and "every box stopped" in output, output
    assert boxes_running(grading.pid) == [], output


def test_grade_class_refuses_without_full_isolation_and_names_the_flag():
    """As a user who cannot build the box (not root), `make grade-class` grades nothing and says which flag accepts it."""
    if os.geteuid() != 0:
        as_user: list[str] = []  # already without a box
    elif shutil.which("setpriv"):
        as_user = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]  # nobody
    else:
        pytest.skip("root without setpriv: cannot try as a user without a box")
    scratch = Path(tempfile.mkdtemp(prefix="refuse-"))
    try:
        scratch.chmod(0o755)
        solution(scratch / "class" / "ada")
        done = subprocess.run(as_user + ["make", "--no-print-directory", "grade-class", f"SUBMISSIONS={scratch / 'class'}",
                                         f"OUT={scratch / 'results'}", f"STAGES={STAGE}"],
                              cwd=ROOT, capture_output=True, text=True, timeout=300,
                              env={**os.environ, "HOME": str(scratch), "PATH": "/usr/local/bin:/usr/bin:/bin"})
        said = done.stdout + done.stderr
        assert done.returncode != 0, said
        assert "--accept-weak-isolation" in said and "ACCEPT_WEAK_ISOLATION=1" in said, said
        assert not (scratch / "results" / "gradebook.csv").exists(), said
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# Runs at import: reads what it should not see, lists the other boxes, and fails the import with what it
# got, so that all of it lands in its own results (which the instructor's report shows).
PROBER = '''
def _probe():
    import os
    from pathlib import Path
    got = []
    for path in {paths!r}:
        try:
            got.append(Path(path).read_text()[:200])
        except OSError as error:
            got.append(type(error).__name__)
    try:
        got.append("boxes: " + ",".join(sorted(os.listdir(Path(__file__).resolve().parents[3]))))
    except OSError as error:
        got.append(type(error).__name__)
    raise RuntimeError("PROBE-RAN " + " | ".join(got))
_probe()
'''


def test_a_box_from_a_private_folder_sees_only_its_own_copy():
    """Submissions, results and temp folder under a 0700 folder (a clone in /root, a mktemp -d): the full box
    works there, and a submission that reads an instructor's file, another student's folder, the results or
    the other boxes gets nothing."""
    isolation = detect()
    if not isolation.namespaces:
        pytest.skip("no box on this machine: " + "; ".join(isolation.missing))
    private = Path(tempfile.mkdtemp(prefix="private-"))  # 0700, owned by root
    try:
        secret = private / "instructor-secret.txt"
        secret.write_text("SECRET-OF-THE-INSTRUCTOR")
        secret.chmod(0o644)  # readable by anyone who can reach it: only the closed folder stands in the way
        submissions = private / "class"
        solution(submissions / "ada")
        neighbour = solution(submissions / "neighbour")
        (neighbour / "notes.py").write_text("# NEIGHBOURS-OWN-WORK\n")
        prober = submissions / "prober" / STAGE
        shutil.copytree(committed_exercises() / STAGE, prober, ignore=shutil.ignore_patterns("__pycache__"))
        results = private / "results"
        ada = submissions / "ada" / STAGE / "main.py"
        ada.write_text("# ADAS-OWN-WORK\n" + ada.read_text())
        paths = [secret, neighbour / "notes.py", ada, results / "ada.json"]
        (prober / "main.py").write_text(PROBER.format(paths=[str(path) for path in paths])
                                        + (prober / "main.py").read_text())
        (private / "tmp").mkdir(mode=0o700)
        done = subprocess.run([sys.executable, "-m", "classroom", str(submissions), "--stage", STAGE,
                               "--out", str(results), "--jobs", "2", "--time-limit", str(TIME_LIMIT)],
                              cwd=ROOT, capture_output=True, text=True, timeout=600,
                              env={**os.environ, "NO_COLOR": "1", "TMPDIR": str(private / "tmp")})
        said = done.stdout + done.stderr
        assert done.returncode == 0 and "NOT AVAILABLE" not in said, said
        assert "a throwaway user per student" in said, said
        rows = {row["student"]: row for row in csv.DictReader((results / "gradebook.csv").open())}
        assert float(rows["ada"]["total"]) == float(rows["neighbour"]["total"]) == 20, said
        report = (results / "prober.json").read_text()
        assert "PROBE-RAN" in report, report[:3000]  # its words did reach its results
        for leaked in ("SECRET-OF-THE-INSTRUCTOR", "NEIGHBOURS-OWN-WORK", "ADAS-OWN-WORK"):
            assert leaked not in report, f"the box read {leaked!r}: " + report[:3000]
        listed = re.search(r"boxes: ([^\\\"|]*)", report)
        assert listed is None or len(listed.group(1).split(",")) <= 1, f"the box saw the other boxes: {listed.group(1)}"
    finally:
        shutil.rmtree(private, ignore_errors=True)


def test_a_regrade_merges_layouts_are_found_and_each_student_gets_feedback(tmp_path):
    """The class grader lays out what Gradescope accepts (a nested exercises/), notes what it cannot, regrades
    one student into the existing gradebook, adds LMS ids, rates stages and checks, and writes feedback files."""
    submissions = tmp_path / "class"
    solution(submissions / "ada")
    shutil.copytree(SOLUTIONS / STAGE, submissions / "bob" / "bobs-repo" / "exercises" / STAGE,
                    ignore=shutil.ignore_patterns("__pycache__"))
    (submissions / "carol").mkdir(parents=True)
    (submissions / "carol" / "README.md").write_text("I forgot my code\n")
    lms = tmp_path / "lms.csv"
    lms.write_text("student,lms_id\nada,1001\nbob,1002\ncarol,1003\n")
    results = tmp_path / "results"

    def grade(*extra: str) -> str:
        done = subprocess.run([sys.executable, "-m", "classroom", str(submissions), "--stage", STAGE,
                               "--out", str(results), "--jobs", "2", "--time-limit", str(TIME_LIMIT),
                               "--lms-ids", str(lms), *extra],
                              cwd=ROOT, capture_output=True, text=True, timeout=600, env={**os.environ, "NO_COLOR": "1"})
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    grade()
    (submissions / "ada" / STAGE / "auth.py").write_text((committed_exercises() / STAGE / "auth.py").read_text())  # ada breaks it
    output = grade("--student", "ada")
    assert "grading 1 students" in output, output
    with (results / "gradebook.csv").open() as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    assert sorted(rows) == ["ada", "bob", "carol"], rows  # merged, not rewritten with one row
    assert float(rows["ada"]["total"]) < 20 and float(rows["bob"]["total"]) == 20, rows  # bob: nested exercises/
    assert float(rows["carol"]["total"]) == 0 and "No stage folder" in rows["carol"]["note"], rows["carol"]
    assert [rows[name]["lms_id"] for name in ("ada", "bob", "carol")] == ["1001", "1002", "1003"]
    page = (results / "report.html").read_text()
    assert '<table id="stages">' in page and '<table id="checks">' in page
    assert f"<td>{STAGE}</td><td>33%</td>" in page, "one student of three has every point of the stage"
    for name in ("ada", "bob", "carol"):
        feedback = (results / "feedback" / f"{name}.txt").read_text()
        assert feedback.startswith(f"{name}: "), feedback
        assert not {"ada", "bob", "carol"} - {name} & set(re.findall(r"\b(ada|bob|carol)\b", feedback)), feedback
    assert "FAILED" in (results / "feedback" / "ada.txt").read_text()
