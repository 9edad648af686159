"""The student's loop: watch, hint, progress, reset, solution (course/loop/).

Every test works on a scratch copy of a stage and a scratch progress file:
the real exercises/ and the user's .workshop/ are never touched.
"""

from __future__ import annotations

import io
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from grader import processes
from grader.stages import ROOT, SOLUTIONS, load_stages, stage_by_id
from tests.conftest import committed_exercises, processes_under
from course.loop import common, hint, hints, screen, starters
from course.loop.grading import Check, Verdict, digest
from course.loop.hints import hint_table
from course.loop.state import Progress

STAGE = stage_by_id("01")
# Deadlines, not speed goals: generous enough for a loaded 2-core machine.
VERDICT_DEADLINE = 240


@pytest.fixture
def scratch(tmp_path):
    """A workdir holding the committed stage-01 starter, and a progress file of its own."""
    workdir = tmp_path / "work"
    (workdir / STAGE.id).mkdir(parents=True)
    for name, content in committed_starter().items():
        (workdir / STAGE.id / name).write_bytes(content)
    return workdir, tmp_path / "state" / "progress.json"


def committed_starter(stage_id: str = STAGE.id) -> dict[str, bytes]:
    folder = committed_exercises() / stage_id
    return {path.name: path.read_bytes() for path in folder.iterdir() if path.is_file()}


def loop_env(state: Path, mark: str = "") -> dict[str, str]:
    env = {**os.environ, "WORKSHOP_STATE": str(state), "NO_COLOR": "1"}
    env.pop("MAKEFLAGS", None)
    if mark:
        env["WORKSHOP_LOOP_TEST_MARK"] = mark
    return env


def make(target: str, workdir: Path, state: Path, *variables: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", target, f"WORKDIR={workdir}", *variables], cwd=ROOT,
                          input=stdin, capture_output=True, text=True, env=loop_env(state), timeout=VERDICT_DEADLINE)


def processes_marked(mark: str) -> list[str]:
    """Processes still running whose environment carries WORKSHOP_LOOP_TEST_MARK=MARK (inherited by all)."""
    return [processes.describe(process) for process in processes.carrying("WORKSHOP_LOOP_TEST_MARK", mark)]


def put_solution(workdir: Path, note: str = "") -> None:
    for name in STAGE.files:
        shutil.copyfile(SOLUTIONS / STAGE.id / name, workdir / STAGE.id / name)
    if note:
        with (workdir / STAGE.id / "main.py").open("a") as handle:
            handle.write(f"# {note}\n")


class Lines:
    """The watcher's output, read line by line in the background, waited on with a deadline."""

    def __init__(self, stream) -> None:
        self.seen: list[str] = []
        self.queue: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream) -> None:
        for line in stream:
            self.queue.put(line)
        self.queue.put(None)

    def wait_for(self, text: str, deadline: float = VERDICT_DEADLINE) -> str:
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            try:
                line = self.queue.get(timeout=1)
            except queue.Empty:
                continue
            if line is None:
                break
            self.seen.append(line)
            if text in line:
                return line
        raise AssertionError(f"{text!r} never appeared; the watcher printed:\n{''.join(self.seen)}")


def test_watch_turns_the_verdict_to_a_pass_on_save_without_a_restart_and_leaves_nothing_behind(scratch):
    workdir, state = scratch
    mark = uuid.uuid4().hex
    watcher = subprocess.Popen(
        [sys.executable, "-m", "course.loop.watch", "01", "--workdir", str(workdir), "--until-pass"],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=loop_env(state, mark))
    try:
        lines = Lines(watcher.stdout)
        lines.wait_for("Welcome")
        lines.wait_for("not yet (")
        lines.wait_for("hint")
        # A syntax error is a verdict like any other: the watcher shows it and carries on.
        (workdir / STAGE.id / "main.py").write_text("app = FastAPI(\n")
        failing = lines.wait_for("✘ ")
        assert "the code imports" in failing, "".join(lines.seen)
        assert watcher.poll() is None, "".join(lines.seen)
        put_solution(workdir)
        verdict = lines.wait_for("done (")
        assert "01-middleware" in verdict
        assert watcher.wait(timeout=60) == 0, "".join(lines.seen)
    finally:
        if watcher.poll() is None:
            watcher.terminate()
            watcher.wait(timeout=60)
    assert processes_marked(mark) == [], "the watcher left processes behind"
    assert processes_under(workdir) == []
    assert "\x1b[" not in "".join(lines.seen), "NO_COLOR and a pipe: plain text only"
    passed = json.loads(state.read_text())["stages"][STAGE.id]
    assert passed.get("passed_at"), passed


def test_watch_moves_on_after_a_pass_answers_keys_from_stdin_lines_and_quits_on_q(scratch):
    workdir, state = scratch
    put_solution(workdir)
    (workdir / "02-agent-headers").mkdir()
    for name, content in committed_starter("02-agent-headers").items():
        (workdir / "02-agent-headers" / name).write_bytes(content)
    mark = uuid.uuid4().hex
    watcher = subprocess.Popen(
        [sys.executable, "-m", "course.loop.watch", "01", "--workdir", str(workdir)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=loop_env(state, mark))

    def press(*keys: str) -> None:
        watcher.stdin.write("".join(f"{key}\n" for key in keys))
        watcher.stdin.flush()

    try:
        lines = Lines(watcher.stdout)
        assert "01-middleware" in lines.wait_for("done (")
        lines.wait_for("On to 02-agent-headers")
        assert "02-agent-headers" in lines.wait_for("not yet (")
        lines.wait_for("keys:")
        press("h")
        lines.wait_for("hint 2/")
        press("l")
        lines.wait_for("✔ 01-middleware")
        press("r", "q")  # re-run, then quit while that grade may still be running
        assert watcher.wait(timeout=120) == 0, "".join(lines.seen)
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait()
    assert processes_marked(mark) == [], "the watcher left processes behind"
    assert processes_under(workdir) == []


def test_watch_stopped_with_term_in_the_middle_of_a_grade_stops_the_grader_and_its_servers(scratch):
    workdir, state = scratch
    mark = uuid.uuid4().hex
    watcher = subprocess.Popen(
        [sys.executable, "-m", "course.loop.watch", "01", "--workdir", str(workdir)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=loop_env(state, mark))
    try:
        lines = Lines(watcher.stdout)
        lines.wait_for("grading 01-middleware")
        deadline = time.monotonic() + VERDICT_DEADLINE
        while len(processes_marked(mark)) < 3 and time.monotonic() < deadline:  # the grader and its children run
            time.sleep(0.2)
        assert len(processes_marked(mark)) >= 3, "".join(lines.seen)
        watcher.terminate()
        assert watcher.wait(timeout=120) == 143, "".join(lines.seen)
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait()
    assert processes_marked(mark) == [], "the watcher left processes behind"
    assert processes_under(workdir) == []


def test_watch_shows_a_server_that_never_starts_as_a_verdict_and_leaves_nothing_behind(scratch):
    workdir, state = scratch
    main = workdir / STAGE.id / "main.py"
    # It imports, but its start-up fails: uvicorn exits before it ever answers.
    main.write_text(main.read_text() + "\n\n@app.on_event('startup')\nasync def boom():\n"
                    "    raise RuntimeError('this server never starts')\n")
    mark = uuid.uuid4().hex
    once = subprocess.run([sys.executable, "-m", "course.loop.watch", "01", "--workdir", str(workdir), "--once"],
                          cwd=ROOT, capture_output=True, text=True, env=loop_env(state, mark),
                          timeout=VERDICT_DEADLINE)
    assert once.returncode == 1, once.stdout + once.stderr
    assert "✘ the server starts" in once.stdout and "not yet (" in once.stdout, once.stdout
    assert processes_marked(mark) == [] and processes_under(workdir) == []


def test_hint_asked_three_times_escalates_and_its_first_level_is_what_grade_shows(scratch):
    workdir, state = scratch
    grade = make("grade", workdir, state, "STAGE=01")
    assert grade.returncode != 0 and "Welcome" in grade.stdout, grade.stdout  # the first make grade welcomes
    assert "checks pass" in json.loads(state.read_text())["stages"][STAGE.id]["last_result"], "make grade notes it"
    shown = next(line.split("hint:", 1)[1].strip() for line in grade.stdout.splitlines() if "hint:" in line)
    topic, levels = next((topic, levels) for topic, levels in hint_table(STAGE).items() if levels[0] == shown)
    if len(levels) < 3:
        pytest.skip(f"the first failing check's hint {topic!r} has {len(levels)} level(s) in stages.toml, not 3")
    outputs = [make("hint", workdir, state, "STAGE=01") for _ in range(3)]
    for run in outputs:
        assert run.returncode == 0, run.stdout + run.stderr
    texts = [run.stdout for run in outputs]
    # make grade showed level 1: the first make hint shows level 2, the next level 3, and then no further.
    for level, text in zip([2, 3, 3], texts):
        assert all(earlier in text for earlier in levels[:level]), text  # the new level, the earlier ones...
        assert all(later not in text for later in levels[level:]), text  # ...and none beyond it
    assert "last hint" not in texts[0] and "last hint" in texts[1] and texts[1] == texts[2], texts
    assert json.loads(state.read_text())["stages"][STAGE.id]["hints"][topic] == 3


def test_hint_levels_escalate_one_per_ask_and_stop_at_the_last(tmp_path, monkeypatch):
    """In process, on a made-up verdict: the escalation itself, whatever stages.toml holds today."""
    levels = ["a nudge", "look in main.py", "write app = FastAPI(middleware=...)"]
    monkeypatch.setattr(hints, "hint_table", lambda stage: {"register": levels, "other": ["unrelated"]})
    check = Check(stage=STAGE.id, title="GET / is refused", status="failed", outcome="failed",
                  sent="GET /", got="200 OK", expected="401", hint=levels[0])
    verdict = Verdict(STAGE.id, 1, [Check(STAGE.id, "the code imports", "passed", "passed"), check])
    progress = Progress.load(tmp_path / "progress.json")
    shown = []
    for _ in range(4):
        out = io.StringIO()
        assert hint.next_hint(screen.make_console(out), progress, STAGE, verdict)
        shown.append(out.getvalue())
    # The grader showed level 1 with the failure: each ask shows one more, then the last again.
    for level, text in zip([2, 3, 3, 3], shown):
        assert levels[level - 1] in text and all(later not in text for later in levels[level:]), text
    assert "last hint" not in shown[0] and "last hint" in shown[1] and "last hint" in shown[3]
    assert Progress.load(tmp_path / "progress.json").hint_level(STAGE.id, "register") == 3


def test_a_verdict_is_reused_only_while_the_files_stay_byte_for_byte_the_same(scratch, capsys):
    workdir, state = scratch
    progress = Progress.load(state)
    failure = Check(STAGE.id, "GET / is refused", "failed", "failed", sent="GET /", got="200 OK", hint="a nudge")
    verdict = Verdict(STAGE.id, 1, [failure], digest=digest(workdir / STAGE.id))
    common.record(screen.make_console(io.StringIO()), progress, workdir, STAGE, verdict)
    again = common.remembered(Progress.load(state), workdir, STAGE)
    assert again is not None and again.first_failure == failure and not again.passed
    with (workdir / STAGE.id / "main.py").open("a") as handle:
        handle.write("\n")
    assert common.remembered(Progress.load(state), workdir, STAGE) is None


def test_the_closing_message_comes_once_when_the_last_stage_passes(tmp_path):
    progress = Progress.load(tmp_path / "progress.json")
    shown = []
    for stage in load_stages():
        out = io.StringIO()
        common.record(screen.make_console(out), progress, tmp_path, stage,
                      Verdict(stage.id, 0, [Check(stage.id, "works", "passed", "passed")]))
        shown.append(out.getvalue())
    assert "Every stage passes" in shown[-1] and not any("Every stage passes" in text for text in shown[:-1])
    out = io.StringIO()
    common.record(screen.make_console(out), progress, tmp_path, STAGE, Verdict(STAGE.id, 0, [Check(
        STAGE.id, "works", "passed", "passed")]))
    assert out.getvalue() == ""


def test_the_watch_screen_keeps_the_status_line_of_a_long_answer_and_the_end_of_its_traceback():
    traceback = [f"  File \"main.py\", line {n}" for n in range(30)] + ["TypeError: unsupported operand"]
    check = Check(STAGE.id, "a non-ASCII key is refused", "failed", "failed", sent="GET / with X-API-Key: café",
                  got="\n".join(["500 Internal Server Error", "content-type: text/plain", *traceback]), expected="401")
    out = io.StringIO()
    screen.show_failure(screen.make_console(out), check, hints.HintLevels(None, ["a nudge"]), 1)
    lines = out.getvalue().splitlines()
    assert any(line.split() == ["got:", "500", "Internal", "Server", "Error"] for line in lines), out.getvalue()
    assert "TypeError: unsupported operand" in out.getvalue() and "line 0\"" not in out.getvalue()


def test_colour_in_a_terminal_plain_text_with_no_color(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    progress = Progress(Path("unused.json"), {"stages": {STAGE.id: {"passed_at": "2026-01-01T00:00:00+00:00"}}})
    coloured = Terminal()
    screen.progress_list(screen.make_console(coloured), progress, load_stages())
    assert "\x1b[" in coloured.getvalue()
    monkeypatch.setenv("NO_COLOR", "1")
    plain = Terminal()
    screen.progress_list(screen.make_console(plain), progress, load_stages())
    assert "\x1b[" not in plain.getvalue() and f"✔ {STAGE.id}" in plain.getvalue() and "[#" in plain.getvalue()


def test_reset_all_restores_every_starter(tmp_path):
    workdir, state = tmp_path / "work", tmp_path / "progress.json"
    done = make("reset-all", workdir, state, "FORCE=1")
    assert done.returncode == 0, done.stdout + done.stderr
    for stage in load_stages():
        kept = {path.name: path.read_bytes() for path in (workdir / stage.id).iterdir()}
        assert kept == committed_starter(stage.id), stage.id


def test_outside_git_reset_uses_the_pristine_copy_kept_at_the_first_run(tmp_path, monkeypatch):
    monkeypatch.setattr(starters, "_git", lambda *args: None)  # as in a downloaded zip
    with pytest.raises(starters.NoStarter):
        starters.starter(STAGE, tmp_path)
    starters.keep_pristine_copy(tmp_path)
    files, source = starters.starter(STAGE, tmp_path)
    assert source == str(tmp_path / "starters" / STAGE.id)
    assert files == committed_starter()


def test_reset_restores_the_starter_byte_for_byte_and_keeps_a_backup(scratch):
    workdir, state = scratch
    folder = workdir / STAGE.id
    put_solution(workdir, note="my own work")
    (folder / "notes.txt").write_text("scratch notes")
    mine = {path.name: path.read_bytes() for path in folder.iterdir() if path.is_file()}

    declined = make("reset", workdir, state, "STAGE=01", stdin="n\n")
    assert declined.returncode != 0 and (folder / "main.py").read_bytes() == mine["main.py"], declined.stdout

    done = make("reset", workdir, state, "STAGE=01", "FORCE=1")
    assert done.returncode == 0, done.stdout + done.stderr
    restored = {path.name: path.read_bytes() for path in folder.iterdir() if path.is_file()}
    assert restored == committed_starter()
    backups = list((state.parent / "backups").iterdir())
    assert len(backups) == 1, done.stdout
    kept = {path.name: path.read_bytes() for path in backups[0].iterdir()}
    assert kept == mine


def test_reset_asks_first_and_proceeds_on_yes(scratch):
    workdir, state = scratch
    (workdir / STAGE.id / "main.py").write_text("changed\n")
    done = make("reset", workdir, state, "STAGE=01", stdin="y\n")
    assert done.returncode == 0 and "[y/N]" in done.stdout, done.stdout + done.stderr
    assert (workdir / STAGE.id / "main.py").read_bytes() == committed_starter()["main.py"]


def test_reset_refuses_to_touch_the_reference_solutions(tmp_path):
    before = (SOLUTIONS / STAGE.id / "main.py").read_bytes()
    refused = make("reset", SOLUTIONS, tmp_path / "progress.json", "STAGE=01", "FORCE=1")
    assert refused.returncode != 0 and "solutions" in refused.stdout, refused.stdout + refused.stderr
    assert (SOLUTIONS / STAGE.id / "main.py").read_bytes() == before


def test_solution_refuses_on_the_starter_and_shows_the_diff_once_the_stage_passes(scratch):
    workdir, state = scratch
    refused = make("solution", workdir, state, "STAGE=01")
    assert refused.returncode != 0, refused.stdout
    assert "does not pass" in refused.stdout and "+++ reference" not in refused.stdout, refused.stdout

    put_solution(workdir, note="my own comment")
    shown = make("solution", workdir, state, "STAGE=01")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert f"+++ reference/{STAGE.id}/main.py" in shown.stdout and "-# my own comment" in shown.stdout, shown.stdout
    walkthrough = ROOT / "solutions" / f"{STAGE.id}.md"
    if walkthrough.is_file():
        assert walkthrough.read_text().splitlines()[0].strip("# ") in shown.stdout

    # The files did not change since that passing grade: the remembered verdict opens it again, as it is
    # what `make watch` and `make grade` leave behind; `make hint` says there is nothing left to hint.
    again = make("solution", workdir, state, "STAGE=01")
    assert again.returncode == 0 and "have not changed" in again.stdout, again.stdout + again.stderr
    assert "+++ reference" in again.stdout, again.stdout
    passed = make("hint", workdir, state, "STAGE=01")
    assert passed.returncode == 0 and "passes" in passed.stdout, passed.stdout + passed.stderr

    progress = make("progress", workdir, state)
    assert f"✔ {STAGE.id}" in progress.stdout and "1/" in progress.stdout, progress.stdout


def test_the_progress_file_is_never_the_graders_truth(scratch):
    workdir, state = scratch
    state.parent.mkdir(parents=True)
    state.write_text(json.dumps({"stages": {STAGE.id: {"passed_at": "2026-01-01T00:00:00+00:00"}}}))
    refused = make("solution", workdir, state, "STAGE=01")
    assert refused.returncode != 0 and "does not pass" in refused.stdout, refused.stdout
    forced = make("solution", workdir, state, "STAGE=01", "FORCE=1")
    assert forced.returncode == 0 and "+++ reference" in forced.stdout, forced.stdout


def test_progress_survives_a_restart_and_welcome_shows_once(tmp_path):
    state = tmp_path / "progress.json"
    env = loop_env(state)
    first = subprocess.run([sys.executable, "-m", "course.loop.welcome"], cwd=ROOT, env=env,
                           capture_output=True, text=True)
    again = subprocess.run([sys.executable, "-m", "course.loop.welcome"], cwd=ROOT, env=env,
                           capture_output=True, text=True)
    assert "Welcome" in first.stdout and "make watch" in first.stdout, first.stdout + first.stderr
    assert again.stdout == "", again.stdout
    listed = subprocess.run([sys.executable, "-m", "course.loop.progress"], cwd=ROOT, env=env,
                            capture_output=True, text=True)
    assert "0/" in listed.stdout and STAGE.id in listed.stdout and "\x1b[" not in listed.stdout, listed.stdout


# -- The loop's state machine, every path, in process and in a blink: a stand-in grader -----------------
# Stage 01 passes exactly when each file starts with the reference's (a note appended still passes; any
# other edit breaks it). The commands under test are the real ones (hint, solution, reset, progress).

TOPIC = "register"  # a stage-01 hint topic with three levels in stages.toml


class StandIn:
    """Grades like the real grader would, counts how often it was asked."""

    def __init__(self) -> None:
        self.runs = 0

    def verdict(self, workdir: Path) -> Verdict:
        folder = workdir / STAGE.id
        solved = all((folder / name).is_file() and (folder / name).read_bytes().startswith(
            (SOLUTIONS / STAGE.id / name).read_bytes()) for name in STAGE.files)
        guard = Check(STAGE.id, "GET / without a key is refused", "passed" if solved else "failed",
                      "passed" if solved else "failed", sent="GET /", got="" if solved else "200 OK",
                      expected="401", hint="" if solved else hint_table(STAGE)[TOPIC][0], hint_topic=TOPIC)
        return Verdict(STAGE.id, 0 if solved else 1, [Check(STAGE.id, "the code imports", "passed", "passed"), guard],
                       digest=digest(folder))

    def __call__(self, stage, workdir: Path) -> Verdict:
        self.runs += 1
        return self.verdict(workdir)


@pytest.fixture
def stand_in(monkeypatch):
    grader = StandIn()
    monkeypatch.setattr(common, "grade", grader)
    return grader


def noted(workdir: Path, state: Path, grader: StandIn) -> Verdict:
    """What `make grade` or `make watch` does after a grade: note the verdict in the progress file."""
    verdict = grader.verdict(workdir)
    common.record(screen.make_console(io.StringIO()), Progress.load(state), workdir, STAGE, verdict)
    return verdict


def run_command(module, capsys, workdir: Path, state: Path, *args: str) -> tuple[int, str]:
    code = module.main([STAGE.number, *args, "--workdir", str(workdir), "--state", str(state)])
    return code, capsys.readouterr().out


def test_a_remembered_verdict_passes_or_fails_exactly_as_the_verdict_it_stands_for(scratch, stand_in):
    workdir, state = scratch
    for solved in (False, True):
        if solved:
            put_solution(workdir)
        graded = noted(workdir, state, stand_in)
        again = common.remembered(Progress.load(state), workdir, STAGE)
        assert again is not None and again.passed == graded.passed == solved, json.loads(state.read_text())
        assert again.summary == graded.summary and again.first_failure == graded.first_failure


def test_after_a_pass_the_solution_opens_on_the_remembered_verdict_without_grading_again(scratch, stand_in, capsys):
    from course.loop import solution

    workdir, state = scratch
    put_solution(workdir, note="my own comment")
    noted(workdir, state, stand_in)
    code, out = run_command(solution, capsys, workdir, state)
    assert code == 0 and f"+++ reference/{STAGE.id}/main.py" in out, out
    assert "have not changed" in out and stand_in.runs == 0, out


def test_after_a_pass_hint_says_it_passes_and_exits_0(scratch, stand_in, capsys):
    workdir, state = scratch
    put_solution(workdir)
    noted(workdir, state, stand_in)
    code, out = run_command(hint, capsys, workdir, state)
    assert code == 0 and "passes" in out and "make solution STAGE=01" in out, out
    assert stand_in.runs == 0, out


def test_unchanged_failing_files_reuse_the_verdict_and_each_hint_shows_one_level_past_the_graders(
        scratch, stand_in, capsys):
    workdir, state = scratch
    noted(workdir, state, stand_in)  # make grade showed level 1
    levels = hint_table(STAGE)[TOPIC]
    shown = [run_command(hint, capsys, workdir, state) for _ in range(3)]
    assert [code for code, _ in shown] == [0, 0, 0], shown
    assert levels[1] in shown[0][1] and levels[2] not in shown[0][1], shown[0][1]
    assert levels[2] in shown[1][1] and "last hint" in shown[2][1], shown
    assert stand_in.runs == 0 and Progress.load(state).hint_level(STAGE.id, TOPIC) == 3


def test_changed_files_are_graded_again_and_the_new_verdict_is_remembered(scratch, stand_in, capsys):
    from course.loop import solution

    workdir, state = scratch
    noted(workdir, state, stand_in)
    put_solution(workdir, note="mine")
    code, out = run_command(solution, capsys, workdir, state)
    assert code == 0 and "+++ reference" in out and stand_in.runs == 1, out
    code, out = run_command(solution, capsys, workdir, state)
    assert code == 0 and "have not changed" in out and stand_in.runs == 1, out


def test_reset_after_a_pass_closes_the_solution_until_the_stage_passes_again(scratch, stand_in, capsys):
    from course.loop import progress as progress_command, reset, solution

    workdir, state = scratch
    put_solution(workdir)
    noted(workdir, state, stand_in)
    code, out = run_command(reset, capsys, workdir, state, "--force")
    assert code == 0 and {name: (workdir / STAGE.id / name).read_bytes() for name in STAGE.files} == \
        {name: committed_starter()[name] for name in STAGE.files}, out
    assert not Progress.load(state).passed(STAGE.id)
    code, out = run_command(solution, capsys, workdir, state)
    assert code == 1 and "does not pass" in out and "+++ reference" not in out, out
    listed = progress_command.main(["--state", str(state)])
    assert listed == 0 and f"✘ {STAGE.id}" in capsys.readouterr().out


def test_a_stage_passed_earlier_and_broken_later_keeps_its_diary_entry_but_not_its_solution(
        scratch, stand_in, capsys):
    from course.loop import solution

    workdir, state = scratch
    put_solution(workdir)
    noted(workdir, state, stand_in)
    (workdir / STAGE.id / "main.py").write_text("app = None  # broken later\n")
    code, out = run_command(solution, capsys, workdir, state)
    assert code == 1 and "does not pass" in out and stand_in.runs == 1, out
    code, out = run_command(hint, capsys, workdir, state)
    assert code == 0 and hint_table(STAGE)[TOPIC][1] in out and stand_in.runs == 1, out
    assert Progress.load(state).passed(STAGE.id), "the diary keeps the first pass"


def test_a_progress_file_from_an_older_loop_is_graded_again_not_misread(scratch, stand_in, capsys):
    from course.loop import solution

    workdir, state = scratch
    put_solution(workdir, note="mine")
    state.parent.mkdir(parents=True)
    state.write_text(json.dumps({"stages": {STAGE.id: {"last_verdict": {
        "digest": digest(workdir / STAGE.id), "passed": True, "summary": "2/2 checks pass", "first_failure": None}}}}))
    code, out = run_command(solution, capsys, workdir, state)
    assert code == 0 and "+++ reference" in out and stand_in.runs == 1, out
