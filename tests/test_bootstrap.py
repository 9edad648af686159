"""`make setup` keeps the student's screen to what matters, and its .venv follows the checkout it sits in."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from course import bootstrap
from course.bootstrap import ROOT

NOISY = "import sys; print('WARNING: Location file:///nowhere is ignored'); print('WARNING: again', file=sys.stderr)"


def test_a_command_that_succeeds_shows_only_its_command_line(capfd):
    bootstrap.run(sys.executable, "-c", NOISY)
    out, err = capfd.readouterr()
    assert out == f"+ {sys.executable} -c {NOISY}\n" and err == "", out + err


def test_a_command_that_fails_shows_all_it_printed(capfd):
    with pytest.raises(subprocess.CalledProcessError):
        bootstrap.run(sys.executable, "-c", NOISY + "; sys.exit('pip: no matching distribution')")
    out, err = capfd.readouterr()
    assert "WARNING: Location" in err and "WARNING: again" in err and "no matching distribution" in err, err


def test_the_venv_imports_the_checkout_it_sits_in_also_through_a_link(tmp_path):
    """The .pth names the repository relative to .venv: a copy of the repository that links to this .venv (the
    tests' copies do) imports its own code, and setting it up never points this checkout's .venv at the copy."""
    copy = tmp_path / "copy"
    (copy / "workshop").mkdir(parents=True)
    (copy / "workshop" / "__init__.py").write_text("")
    (copy / ".venv").symlink_to(ROOT / ".venv", target_is_directory=True)
    env = {name: value for name, value in os.environ.items() if name not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    where = "import workshop; print(workshop.__file__)"
    for checkout in (ROOT, copy):
        done = subprocess.run([str(checkout / ".venv" / "bin" / "python"), "-c", where], cwd="/", env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.stdout.strip() == str(checkout / "workshop" / "__init__.py"), done.stdout + done.stderr
