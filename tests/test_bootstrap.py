"""`make setup` keeps the student's screen to what matters, and a copy linked to its .venv leaves it alone."""

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


def test_a_copy_that_links_to_this_venv_never_points_the_venv_at_itself(tmp_path):
    """Setting up a copy of the repository whose .venv is a link to this one (the tests make such copies) leaves
    the .pth naming this checkout: every other test that shares the .venv keeps importing the right code."""
    site = tmp_path / "site-packages"
    site.mkdir()
    own, copy = tmp_path / "own", tmp_path / "copy"
    (own / ".venv").mkdir(parents=True)
    copy.mkdir()
    (copy / ".venv").symlink_to(own / ".venv", target_is_directory=True)
    bootstrap.name_this_checkout(site, root=own, venv=own / ".venv")
    bootstrap.name_this_checkout(site, root=copy, venv=copy / ".venv")
    assert (site / "secure_mcp_workshop.pth").read_text() == f"{own}\n"
