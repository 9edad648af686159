"""Make targets run as a student types them, in a shell, from the repository root."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from grader.stages import ROOT


def shell(command: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    """COMMAND through /bin/sh, so its quoting is the student's, with ENV as the whole environment."""
    return subprocess.run(command, shell=True, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("api_key", ["unset", "exported"], ids=["without-API_KEY", "with-API_KEY-exported"])
def test_make_keys_issues_lists_and_revokes_a_key(api_key, tmp_path):
    """`make keys ARGS=...` runs `python -m keys` in stage 05 and nothing else (no Inspector after it)."""
    env = {name: value for name, value in os.environ.items() if name not in ("MAKEFLAGS", "API_KEY")}
    env.update(KEYS_DB=str(tmp_path / "keys.db"), KEY_PEPPER="a-pepper-for-this-test-only")
    if api_key == "exported":
        env["API_KEY"] = "a-stage-01-key"  # as stages 01 to 04 ask students to export it
    issued = shell("make -s keys WORKDIR=solutions ARGS=\"issue --client me --tools '*'\"", env)
    assert issued.returncode == 0, issued.stdout + issued.stderr
    key_id = re.search(r"key id (\S+) for me", issued.stdout)
    assert key_id, issued.stdout
    listed = shell('make -s keys WORKDIR=solutions ARGS="list"', env)
    assert listed.returncode == 0 and key_id[1] in listed.stdout, listed.stdout + listed.stderr
    revoked = shell(f'make -s keys WORKDIR=solutions ARGS="revoke {key_id[1]}"', env)
    assert revoked.returncode == 0, revoked.stdout + revoked.stderr
    after = shell('make -s keys WORKDIR=solutions ARGS="list"', env)
    assert re.search(rf"{re.escape(key_id[1])}\s+me\s+revoked", after.stdout), after.stdout
    for run in (issued, listed, revoked, after):
        assert "Inspector" not in run.stdout + run.stderr and "Error" not in run.stderr, run.stdout + run.stderr
