"""The box a student's grading runs in: loopback only, its copy only, bounded.

Each test runs a few lines of Python in a box, as a student's code would run,
and reads what it saw. Nothing here sends traffic anywhere but loopback.
"""

import json
import os
import shutil
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from grader import processes
from classroom.sandbox import MARK, ROOT, SOLUTIONS, Isolation, Limits, detect, git_stores, new_box, run_boxed

ISOLATION = detect()
needs_box = pytest.mark.skipif(not ISOLATION.namespaces, reason="; ".join(ISOLATION.missing) or "no box")
QUICK = Limits(wall=20)


@pytest.fixture
def tmp_path():
    """A scratch folder the boxes' users can pass through (pytest's own is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="sandbox-test-"))
    folder.chmod(0o711)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def boxed(tmp_path: Path, code: str, limits: Limits = QUICK, name: str = "box", isolation: Isolation = ISOLATION):
    box = new_box(tmp_path / name, isolation)
    outcome = run_boxed([sys.executable, "-c", textwrap.dedent(code)], box, limits, isolation, cwd=box.copy)
    return box, outcome


def seen(outcome) -> dict:
    lines = [line for line in outcome.output.splitlines() if line.startswith("{")]
    assert lines, f"the boxed code printed no result:\n{outcome.output}"
    return json.loads(lines[-1])


@needs_box
def test_a_box_has_no_network_interface_but_loopback_and_loopback_works(tmp_path):
    _, outcome = boxed(tmp_path, """
        import json, socket
        names = [name for _, name in socket.if_nameindex()]
        with open("/proc/net/dev") as dev:
            listed = [line.split(":")[0].strip() for line in dev.readlines()[2:]]
        server = socket.create_server(("127.0.0.1", 0))
        with socket.create_connection(server.getsockname(), timeout=5) as client:
            peer, _ = server.accept()
            client.sendall(b"ping")
            echoed = peer.recv(4).decode()
        print(json.dumps({"interfaces": names, "proc": listed, "loopback": echoed}))
    """)
    found = seen(outcome)
    assert found["interfaces"] == ["lo"] and found["proc"] == ["lo"], found
    assert found["loopback"] == "ping", found


@needs_box
def test_a_box_writes_only_in_its_copy_and_its_temp_folder(tmp_path):
    instructor = tmp_path / "instructor.txt"
    instructor.write_text("mine\n")
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    anyone = shared / "anyone.txt"
    anyone.write_text("mine\n")
    anyone.chmod(0o666)  # only the read-only mounts keep this one safe
    box, outcome = boxed(tmp_path, f"""
        import json, os
        tried = {{}}
        for path in [{str(instructor)!r}, {str(anyone)!r}, {str(shared / "new.txt")!r}, "/tmp/grade-class-probe",
                     "/dev/shm/grade-class-probe", "new-in-my-copy.txt", os.environ["TMPDIR"] + "/scratch.txt"]:
            try:
                with open(path, "a") as handle:
                    handle.write("student")
                tried[path] = "written"
            except OSError as error:
                tried[path] = error.strerror
        print(json.dumps(tried))
    """)
    tried = seen(outcome)
    assert tried.pop("new-in-my-copy.txt") == "written" and tried.pop(str(box.tmp / "scratch.txt")) == "written"
    assert all(result != "written" for result in tried.values()), tried
    assert instructor.read_text() == anyone.read_text() == "mine\n"
    assert not (shared / "new.txt").exists() and not Path("/tmp/grade-class-probe").exists()


@needs_box
def test_one_student_cannot_touch_another_students_copy_or_results(tmp_path):
    other = new_box(tmp_path / "other", ISOLATION)
    results = other.tmp / "results.json"
    results.write_text('{"score": 0}')
    _, outcome = boxed(tmp_path, f"""
        import json, os
        tried = {{}}
        for path in [{str(results)!r}, {str(other.copy / "main.py")!r}]:
            try:
                open(path, "a").write("{{}}")
                tried[path] = "written"
            except OSError as error:
                tried[path] = error.strerror
        try:
            tried["list"] = os.listdir({str(other.copy)!r})
        except OSError as error:
            tried["list"] = error.strerror
        print(json.dumps(tried))
    """)
    tried = seen(outcome)
    assert "written" not in tried.values() and isinstance(tried["list"], str), tried
    assert results.read_text() == '{"score": 0}' and not (other.copy / "main.py").exists()


# Run as the grader's user (a student's code runs as that user too): read the grader's (PID argv[1]) descriptors and environment.
PEEK = """
import os, sys
for part in ("fd", "environ"):
    try:
        print(part, len(os.listdir(f"/proc/{sys.argv[1]}/fd") if part == "fd" else open(f"/proc/{sys.argv[1]}/environ").read()))
    except OSError as error:
        print(part, error.strerror.replace(" ", "-"))
"""


@pytest.mark.skipif(not (ISOLATION.namespaces and ISOLATION.user), reason="; ".join(ISOLATION.missing) or "no box")
def test_a_box_shows_the_solutions_only_to_the_references_own_user(tmp_path):
    box = new_box(tmp_path / "box", ISOLATION, reference=True)
    stage = box.reference / "04-pure-asgi"
    paths = [str(SOLUTIONS / "04-pure-asgi" / "auth_middleware.py"), str(stage / "auth_middleware.py")]
    # The boxed code plays the grader (it holds the reference's fork server) and the student's code at once.
    outcome = run_boxed([sys.executable, "-c", textwrap.dedent(f"""
        import json, os
        from pathlib import Path
        from grader.harness import run_python
        tried = {{"me": os.getuid()}}
        for path in {paths!r}:
            try:
                tried[path] = len(open(path).read())
            except OSError as error:
                tried[path] = error.strerror
        tried["solutions"] = os.listdir({str(SOLUTIONS)!r})
        tried["git"] = [os.listdir(path) for path in {[str(path) for path in git_stores(ROOT)]!r} if os.path.isdir(path)]
        ran = run_python(Path({str(stage)!r}), ["-c", "import os; print(os.getuid(), len(open('auth_middleware.py').read()))"])
        tried["reference"] = ran.output.split()
        # A student's process (the grader's user) looks for the grader's pipes to the reference's fork server.
        peek = {PEEK!r}
        import subprocess, sys
        tried["grader"] = subprocess.run([sys.executable, "-c", peek, str(os.getpid())], capture_output=True,
                                         text=True).stdout.split()
        print(json.dumps(tried))
    """)], box, QUICK, ISOLATION)
    tried = seen(outcome)
    assert tried["me"] == box.uid and all(isinstance(tried[path], str) for path in paths), tried
    assert tried["solutions"] == [] and all(listed == [] for listed in tried["git"]), tried
    assert tried["reference"][0] == str(box.reference_uid) and int(tried["reference"][1]) > 0, tried
    assert tried["grader"] == ["fd", "Permission-denied", "environ", "Permission-denied"], tried


def test_a_fork_bomb_stops_at_the_process_limit(tmp_path):
    if not ISOLATION.user:
        pytest.skip("the process limit counts per user; as root it does not apply: " + "; ".join(ISOLATION.missing))
    _, outcome = boxed(tmp_path, """
        import json, os, time
        children = 0
        try:
            while children < 500:
                if os.fork() == 0:
                    time.sleep(60)
                    os._exit(0)
                children += 1
        except OSError as error:
            print(json.dumps({"children": children, "error": error.strerror}))
    """, Limits(wall=20, processes=30))
    found = seen(outcome)
    assert found["children"] < 30 and found["error"], found


def test_a_memory_hog_stops_at_the_memory_limit(tmp_path):
    _, outcome = boxed(tmp_path, """
        import json
        held = []
        try:
            while len(held) < 100:
                held.append(bytearray(50 * 2 ** 20))
        except MemoryError:
            print(json.dumps({"megabytes": 50 * len(held)}))
    """, Limits(wall=20, memory=400 * 2 ** 20))
    assert seen(outcome)["megabytes"] < 400


NO_BOX = Isolation(False, False, ("pretend: no namespaces, no user switch",))


@pytest.mark.parametrize("isolation", [ISOLATION, NO_BOX], ids=["box", "limits-only"])
def test_a_hanging_box_is_stopped_at_its_wall_time_with_everything_it_started(tmp_path, isolation):
    # Without a PID namespace (limits-only) the processes are found by the box's mark instead.
    _, outcome = boxed(tmp_path, """
        import subprocess, time
        subprocess.Popen(["sleep", "600"], start_new_session=True)  # tries to outlive its box
        print("started", flush=True)
        time.sleep(600)
    """, Limits(wall=3), isolation=isolation)
    assert outcome.timed_out and "started" in outcome.output, outcome
    assert outcome.seconds < 3 + 5  # the limit, plus killing (a bound, not a speed goal)
    # This test's boxes, not another worker's: their marks start with this process's id.
    left = [processes.describe(process) for process in processes.carrying(MARK, f"{os.getpid()}-", prefix=True)]
    assert left == [], left


def test_the_box_keeps_the_instructors_secrets_out_of_its_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-instructor")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "instructor-cloud")
    _, outcome = boxed(tmp_path, "import json, os; print(json.dumps(sorted(os.environ)))")
    names = json.loads([line for line in outcome.output.splitlines() if line.startswith("[")][-1])
    assert "OPENAI_API_KEY" not in names and "AWS_SECRET_ACCESS_KEY" not in names, names


def test_detect_says_what_is_missing_and_why():
    text = ISOLATION.describe()
    assert text.startswith("isolation:") and "limits on CPU time, memory and file size" in text
    assert ISOLATION.namespaces or "NOT AVAILABLE" in text
    assert "NOT AVAILABLE: pretend: no namespaces" in NO_BOX.describe()
    assert "loopback-only network" not in NO_BOX.describe()
