"""A student's .venv holds what grading needs, and every lock installs a working environment.

The locks are installed with --no-deps (course/bootstrap.py), so each group of locks must be closed
under its packages' own requirements, read here from the installed packages' metadata.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from course import bootstrap

ROOT = Path(__file__).resolve().parent.parent

# What a student never runs: a load generator and the web framework it brings, a notebook server, charts.
NOT_FOR_STUDENTS = {"locust", "flask", "werkzeug", "gevent", "geventhttpclient", "jupyterlab", "jupyter-server",
                    "notebook-shim", "ipykernel", "tornado", "matplotlib", "pytest-xdist"}
# Optional jsonschema format checkers, left out of every lock on purpose (see requirements-instructor.lock).
LEFT_OUT = {"lark", "rfc3987-syntax"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lock: Path) -> dict[str, str]:
    lines = (line.strip() for line in lock.read_text().splitlines())
    return {canonical(name): version for name, _, version in
            (line.partition("==") for line in lines if line and not line.startswith("#"))}


def group_pins(group: str) -> dict[str, str]:
    merged: dict[str, str] = {}
    for part in bootstrap.GROUPS[group]:
        merged |= pins(bootstrap.LOCKS[part])
    return merged


def test_a_students_environment_has_no_load_generator_notebook_server_or_charts():
    student = pins(bootstrap.LOCKS["student"])
    assert not NOT_FOR_STUDENTS & set(student), sorted(NOT_FOR_STUDENTS & set(student))
    assert bootstrap.GROUPS["student"] == ["student"]


@pytest.mark.parametrize("group", sorted(bootstrap.GROUPS))
def test_each_group_of_locks_holds_every_requirement_of_its_packages(group):
    wanted = group_pins(group)
    missing = []
    for name in wanted:
        requirements = metadata.requires(name) or []
        for text in requirements:
            requirement = Requirement(text)
            if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
                continue
            if canonical(requirement.name) not in wanted and canonical(requirement.name) not in LEFT_OUT:
                missing.append(f"{name} needs {requirement}")
    assert not missing, f"installing the {group} locks with --no-deps would miss:\n" + "\n".join(missing)


def test_every_lock_pins_what_dot_venv_holds():
    everything = group_pins("dev")
    wrong = {name: (version, metadata.version(name)) for name, version in everything.items()
             if metadata.version(name) != version}
    assert not wrong, f"lock vs installed: {wrong}"


def test_pyproject_pins_each_direct_dependency_in_its_groups_locks():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {"student": project["dependencies"], **project["optional-dependencies"]}
    for group, texts in declared.items():
        locked = group_pins(group)
        for text in texts:
            requirement = Requirement(text)
            if canonical(requirement.name) == "secure-mcp-workshop":
                continue  # dev names the other extras
            (specifier,) = requirement.specifier
            assert specifier.operator == "==", f"{text}: pin exactly"
            assert locked.get(canonical(requirement.name)) == specifier.version, f"{group}: {text} vs its lock"


def test_bootstrap_refuses_a_group_it_does_not_know(capsys):
    assert bootstrap.main(["everything"]) == 2
    assert "usage" in capsys.readouterr().err
