"""The first links of every stage's chain: the code imports, the server starts.

Each stage's check module imports these two tests, so they run first there.
"""

from __future__ import annotations

from grader.harness import ServerDidNotStart
from grader.probes import tail
from grader.verdict import CheckFailed


def test_imports(launch, stage):
    """the code imports"""
    modules = ", ".join(stage.modules)
    if launch.missing:
        raise CheckFailed(sent=f"import {modules}", got=f"there is no folder {launch.student_dir}",
                          expected=f"the stage's files: {', '.join(stage.files)}",
                          hint="Pass --workdir a folder laid out like exercises/ (one sub-folder per stage).")
    result = launch.import_result()
    if not result.ok:
        got = "no result within the time limit" if result.timed_out else f"an error:\n{tail(result.output, 30)}"
        raise CheckFailed(sent=f"python -c 'import {modules}' in {launch.student_dir.name}/", got=got,
                          expected="every module imports without error", hint=stage.hint("imports"))


def test_server_starts(launch, stage, imports_ok):
    """the server starts"""
    server = launch.student
    try:
        server.wait_ready()
    except ServerDidNotStart as error:
        raise CheckFailed(sent=server.where, got=f"{error}\n{tail(server.log(), 30)}",
                          expected="the server answers on its port", hint=stage.hint("starts")) from None
