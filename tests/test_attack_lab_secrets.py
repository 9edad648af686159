"""Stage 07's flags can be captured through the holes only, never read from the side.

A thief (tests/attack_lab_thief.py) looks for FLAG{...} in every process's environment and memory it may
read and in the temp folder. It runs as the same user as the process that holds the flag, as a student's
exploit runs beside the grader and the target: as root nothing is closed, so as root both run as `nobody`.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from grader.stages import ROOT

THIEF = Path(__file__).with_name("attack_lab_thief.py")
TARGET = ROOT / "workshop" / "attack_lab" / "target"
# A process that takes its flag out of its environment, keeps it in memory, and waits.
HOLDER = """
import sys, time
from workshop.attack_lab.lab_secrets import hide_this_process, take
flag = take("LAB_FLAG_VAULT")
if sys.argv[1] == "hide":
    hide_this_process()
print("ready", flush=True)
time.sleep(60)
"""

if os.geteuid() == 0:
    if not shutil.which("setpriv"):
        pytest.skip("as root, the thief needs setpriv to run as another user", allow_module_level=True)
    AS_SAME_USER = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
else:
    AS_SAME_USER = []


def flag() -> str:
    return f"FLAG{{{secrets.token_hex(12)}}}"


def start(command: list[str], env: dict[str, str], cwd: Path = ROOT) -> subprocess.Popen:
    return subprocess.Popen([*AS_SAME_USER, *command], cwd=cwd, env={**os.environ, **env}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def steal(scratch: Path) -> str:
    """What the thief found, a flag per line with where it read it."""
    done = subprocess.run([*AS_SAME_USER, sys.executable, str(THIEF)], capture_output=True, text=True, timeout=120,
                          cwd=scratch, env={**os.environ, "TMPDIR": str(scratch)})
    assert f"temp folder: {scratch}\n" in done.stdout, done.stdout + done.stderr  # its own, not all of /tmp
    return done.stdout


def wait_for_line(process: subprocess.Popen, text: str, timeout: float) -> str:
    """What PROCESS printed up to the first line holding TEXT (or up to its end, or TIMEOUT)."""
    said: list[str] = []

    def read() -> None:  # a thread, not select(): the pipe's reader buffers lines select() cannot see
        for line in process.stdout:
            said.append(line)
            if text in line:
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    return "".join(said)


def stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, 9)
    process.wait()


@pytest.fixture
def scratch():
    """The thief's temp folder, right under the system's: it runs as nobody, who cannot reach a pytest tmp_path
    (its parents are the owner's only), and Python would fall back to the whole of /tmp, whatever is in it."""
    folder = Path(tempfile.mkdtemp(prefix="attack-lab-thief-"))
    folder.chmod(0o777)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("hidden", [False, True], ids=["a process that does not hide", "a hidden process"])
def test_a_flag_held_in_memory_is_readable_only_until_the_process_hides(hidden, scratch):
    secret = flag()
    holder = start([sys.executable, "-c", HOLDER, "hide" if hidden else "show"], {"LAB_FLAG_VAULT": secret})
    try:
        assert holder.stdout.readline().strip() == "ready"
        stolen = steal(scratch)
    finally:
        stop(holder)
    # The control case shows the thief works: what it finds there, it would find anywhere it may read.
    assert (secret in stolen) is not hidden, stolen


def test_the_vulnerable_target_gives_its_flags_to_no_thief(scratch):
    flags = {name: flag() for name in ("LAB_FLAG_VAULT", "LAB_FLAG_REPORT", "UPSTREAM_TOKEN", "ADMIN_KEY")}
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = start([sys.executable, "-m", "uvicorn", "lab_server:app", "--port", str(port), "--no-proxy-headers"],
                   {"API_KEY": secrets.token_urlsafe(24), "UPSTREAM_URL": "http://127.0.0.1:9", **flags}, cwd=TARGET)
    try:
        # Ready when uvicorn itself says so: a connection alone could reach another process that took the
        # port meanwhile (a busy machine), and the thief would then meet the target before it hid itself.
        said = wait_for_line(server, "Uvicorn running on", timeout=60)
        assert "Uvicorn running on" in said, said
        stolen = steal(scratch)
    finally:
        stop(server)
    assert not [value for value in flags.values() if value in stolen], stolen
