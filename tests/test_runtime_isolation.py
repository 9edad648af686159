"""The runtime the stage code imports (workshop/) never imports the grader or the course's tools."""

import ast
import subprocess
import sys

from grader.stages import ROOT


def test_the_runtime_modules_import_neither_the_grader_nor_the_course_tools():
    offenders = []
    for path in sorted((ROOT / "workshop").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{path.relative_to(ROOT)}: {name}" for name in names
                          if name.split(".")[0] in ("grader", "course")]
    assert offenders == []


def test_importing_the_runtime_loads_no_grader_module():
    probe = ("import sys, workshop.models, workshop.errors, workshop.weather; "
             "print(sorted(m for m in sys.modules if m.split('.')[0] in ('grader', 'course')))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout


def test_every_stage_file_imports_only_the_runtime_from_this_project():
    for root in ("exercises", "solutions"):
        for path in sorted((ROOT / root).glob("*/*.py")):
            source = path.read_text()
            assert "import grader" not in source and "from grader" not in source, path
            assert "from course" not in source and "import course" not in source, path
