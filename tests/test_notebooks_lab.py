"""`make notebooks` serves Jupyter Lab, also when run as root (as in many containers)."""

import os
import secrets
import signal
import subprocess
import sys
import time

import httpx

from grader.harness import free_port
from course.notebooks import ROOT, lab_command

START_TIMEOUT = 90.0


def test_as_root_the_lab_command_allows_root(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0, raising=False)
    assert "--allow-root" in lab_command()
    monkeypatch.setattr(os, "geteuid", lambda: 1000, raising=False)
    assert "--allow-root" not in lab_command()


def test_make_notebooks_serves_the_lab_page_on_loopback(tmp_path):
    """Start it the way `make notebooks` does (python -m course.notebooks), as whoever runs the tests."""
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTER_CONFIG_DIR": str(tmp_path / "config")}
    log = tmp_path / "lab.log"
    with log.open("wb") as output:
        lab = subprocess.Popen([sys.executable, "-m", "course.notebooks", "--no-browser", "--ip", "127.0.0.1",
                                "--port", str(port), f"--IdentityProvider.token={token}"],
                               cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        page = None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and lab.poll() is None:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/lab?token={token}", timeout=5)
                break
            except httpx.TransportError:
                time.sleep(0.5)
        shown = log.read_text(errors="replace")
        assert lab.poll() is None, f"Jupyter Lab exited (status {lab.returncode}):\n{shown}"
        assert page is not None, f"no answer on 127.0.0.1:{port} within {START_TIMEOUT:.0f} s:\n{shown}"
        assert page.status_code == 200 and "JupyterLab" in page.text, f"{page.status_code}\n{page.text[:500]}\n{shown}"
    finally:
        if lab.poll() is None:
            os.killpg(lab.pid, signal.SIGTERM)
            try:
                lab.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(lab.pid, signal.SIGKILL)
                lab.wait()
