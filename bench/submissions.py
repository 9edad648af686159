"""Submissions made on purpose: the reference solution with one edit, for the benchmarks and the tests.

Each builder writes FOLDER/<stage id> from solutions/, edited, and fails loudly when the edit no longer
applies (the solution changed under it): a benchmark or a test of a broken submission that silently
grades a correct one proves nothing. The fixtures of tests/broken/ and the broken code of stage 01 that
the benchmarks time are built here, and only here.
"""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path
from typing import Callable

from grader.stages import ROOT, SOLUTIONS, Stage

FIXTURES = ROOT / "tests" / "broken"


def copy_stage(source: Path, folder: Path) -> Path:
    shutil.copytree(source, folder, ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def edited_solution(stage: Stage, edit: Callable[[Path], None], folder: Path) -> None:
    """FOLDER/<stage id>: the reference solution with EDIT applied; fails loudly when EDIT changes nothing."""
    target = copy_stage(SOLUTIONS / stage.id, folder / stage.id)
    before = {path: path.read_text() for path in target.glob("*.py")}
    edit(target)
    if before == {path: path.read_text() for path in target.glob("*.py")}:
        raise RuntimeError(f"an edit of {stage.id} no longer applies to the reference solution")


def broken_fixture(stage_id: str, case: str, workdir: Path) -> Path:
    """WORKDIR/STAGE_ID: the reference solution broken as tests/broken/STAGE_ID/CASE says.

    A fixture is either a folder of whole files laid over the solution, or a CASE.toml of
    [[replace]] entries (file, old, new) applied to it: one mistake each, and it fails loudly
    when the solution no longer holds the old text. The project's tests build theirs with it too.
    """
    target = copy_stage(SOLUTIONS / stage_id, workdir / stage_id)
    overlay, edits = FIXTURES / stage_id / case, FIXTURES / stage_id / f"{case}.toml"
    if overlay.is_dir():
        shutil.copytree(overlay, target, dirs_exist_ok=True)
        return target
    if not edits.is_file():
        raise RuntimeError(f"no such fixture submission: {overlay} or {edits}")
    for edit in tomllib.loads(edits.read_text())["replace"]:
        path = target / edit["file"]
        text = path.read_text()
        if text.count(edit["old"]) != 1:
            raise RuntimeError(f"{edits.name}: the solution's {edit['file']} no longer holds {edit['old']!r}")
        path.write_text(text.replace(edit["old"], edit["new"]))
    return target


def fixture(stage: Stage, case: str, folder: Path) -> None:
    broken_fixture(stage.id, case, folder)


def hangs_at_import(stage: Stage, folder: Path) -> None:
    """A file the student writes (the first with TODOs) waits forever at import."""
    name = next((name for name in stage.todo if name.endswith(".py")), stage.app.split(":")[0] + ".py")
    module = folder / name
    module.write_text("import time\ntime.sleep(3600)  # waits forever at import\n" + module.read_text())


# Broken submissions of stage 01, each one edit of the reference solution.
def _syntax_error(folder: Path) -> None:
    (folder / "main.py").write_text((folder / "main.py").read_text() + "\nif True\n    pass\n")


def _import_hangs(folder: Path) -> None:
    auth = folder / "auth.py"
    auth.write_text("import time\ntime.sleep(3600)  # waits forever at import\n" + auth.read_text())


def _never_binds(folder: Path) -> None:
    main = folder / "main.py"
    main.write_text(main.read_text().replace(
        "app = FastAPI(middleware=[Middleware(ApiKeyMiddleware)])",
        "import asyncio\nfrom contextlib import asynccontextmanager\n\n\n@asynccontextmanager\n"
        "async def lifespan(app):\n    await asyncio.sleep(3600)  # start-up never ends: uvicorn never binds\n"
        "    yield\n\napp = FastAPI(middleware=[Middleware(ApiKeyMiddleware)], lifespan=lifespan)"))


def _request_blocks(folder: Path) -> None:
    auth = folder / "auth.py"
    auth.write_text(auth.read_text().replace("        if not key_is_valid(request):",
                                             "        import time; time.sleep(3600)  # blocks the event loop\n"
                                             "        if not key_is_valid(request):"))


BROKEN = {"a syntax error": _syntax_error, "an import that hangs": _import_hangs,
          "a server that never binds": _never_binds, "a request that blocks": _request_blocks}
