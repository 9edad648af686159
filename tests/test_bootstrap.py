"""`make setup` keeps the student's screen to what matters: a command's output only when it fails."""

from __future__ import annotations

import subprocess
import sys

import pytest

from course import bootstrap

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
