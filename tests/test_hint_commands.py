"""Every command a hint tells the student to run works as typed, from the stage folder, without .venv activated.

A hint names a command as "Run `...`" (or ", then `...`"). Each one runs through /bin/sh in a copy of
the reference solution's stage folder, placed as in the repository (so `../../.venv` is the workshop's
.venv), with a PATH that has no .venv on it. A command that starts a server (uvicorn) must reach
"Application startup complete"; it runs in a private network namespace when the machine allows one,
so the port it binds (uvicorn's default 8000) is its own.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from grader.stages import ROOT, SOLUTIONS, load_stages

STAGES = load_stages()
COMMAND = re.compile(r"(?:\bRun|, then) `([^`]+)`")
PRIVATE_NETWORK = ["unshare", "-rn"] if shutil.which("unshare") and subprocess.run(
    ["unshare", "-rn", "true"], capture_output=True).returncode == 0 else []


def hint_commands(stage) -> list[tuple[str, str]]:
    """(topic, command) for every command any level of the stage's hints gives, in order."""
    found = []
    for topic, levels in stage.hints.items():
        for text in levels if isinstance(levels, (list, tuple)) else [levels]:
            found += [(topic, command) for command in COMMAND.findall(text)]
    return found


def student_shell_env() -> dict[str, str]:
    """A student's shell: no .venv on PATH, none activated, no key exported."""
    env = {name: value for name, value in os.environ.items()
           if name not in ("VIRTUAL_ENV", "API_KEY", "KEY_PEPPER", "KEYS_DB", "PYTHONPATH", "MAKEFLAGS")}
    env["PATH"] = os.pathsep.join(part for part in env.get("PATH", "").split(os.pathsep) if ".venv" not in part)
    return env


def stage_copy(tmp_path: Path, stage_id: str) -> Path:
    """solutions/<stage> copied to TMP/solutions/<stage>, with TMP/.venv the workshop's .venv."""
    folder = tmp_path / "solutions" / stage_id
    shutil.copytree(SOLUTIONS / stage_id, folder, ignore=shutil.ignore_patterns("__pycache__", "keys.db*", ".keys"))
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    return folder


def run_to_the_end(command: str, folder: Path) -> tuple[bool, str]:
    done = subprocess.run(command, shell=True, cwd=folder, env=student_shell_env(), capture_output=True, text=True,
                          timeout=120)
    return done.returncode == 0, done.stdout + done.stderr


def run_until_serving(command: str, folder: Path, within: float = 60) -> tuple[bool, str]:
    log = folder / "server.log"
    with open(log, "w") as out:
        process = subprocess.Popen([*PRIVATE_NETWORK, "sh", "-c", command], cwd=folder, env=student_shell_env(),
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline and process.poll() is None:
            if "Application startup complete" in log.read_text(errors="replace"):
                return True, log.read_text(errors="replace")
            time.sleep(0.2)
        return False, log.read_text(errors="replace")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def test_hints_give_commands_to_run():
    assert sum(len(hint_commands(stage)) for stage in STAGES) >= 2 * len(STAGES)  # imports and starts, at least


@pytest.mark.parametrize("stage", STAGES, ids=lambda stage: stage.id)
def test_every_command_a_hint_gives_works_as_typed_in_the_stage_folder(stage, tmp_path):
    folder = stage_copy(tmp_path, stage.id)
    for topic, command in hint_commands(stage):
        serves = "uvicorn" in command
        worked, output = (run_until_serving if serves else run_to_the_end)(command, folder)
        assert worked, (f"the {topic!r} hint of {stage.id} says to run `{command}` in the stage folder; there it "
                        f"{'never started serving' if serves else 'failed'}:\n{output[-2000:]}")
