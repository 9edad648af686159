"""The stage list, read from stages.toml at the top of the repository."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAGES_FILE = ROOT / "stages.toml"
SOLUTIONS = ROOT / "solutions"
EXERCISES = ROOT / "exercises"
CHECKS = Path(__file__).resolve().parent / "checks"


@dataclass(frozen=True)
class Stage:
    id: str
    title: str
    app: str
    port: int
    endpoint: str
    client: str
    files: tuple[str, ...]
    todo: tuple[str, ...]
    points: float
    hints: dict[str, str] = field(default_factory=dict)
    key_from_env: bool = False
    student_server: bool = True
    proxied: bool = False

    @property
    def number(self) -> str:
        return self.id.split("-", 1)[0]

    @property
    def checks_file(self) -> Path:
        return CHECKS / f"test_{self.id.replace('-', '_')}.py"

    @property
    def lesson(self) -> Path:
        return ROOT / "lessons" / self.id / "README.md"

    @property
    def notebook(self) -> Path:
        return ROOT / "notebooks" / f"{self.id}.ipynb"

    @property
    def modules(self) -> list[str]:
        """What the import check imports: the app's module and every file with TODOs.

        (The app's module imports the rest of the server; an untouched agent is not
        imported, because importing openai-agents alone takes seconds.)
        """
        names = [self.app.split(":")[0]] + [name.removesuffix(".py") for name in self.todo]
        return list(dict.fromkeys(names))

    def hint(self, topic: str) -> str:
        return self.hints[topic]


def load_stages() -> list[Stage]:
    with STAGES_FILE.open("rb") as handle:
        data = tomllib.load(handle)
    return [
        Stage(
            id=entry["id"], title=entry["title"], app=entry["app"], port=entry["port"],
            endpoint=entry["endpoint"], client=entry["client"], files=tuple(entry["files"]),
            todo=tuple(entry["todo"]), points=float(entry["points"]), hints=dict(entry.get("hints", {})),
            key_from_env=entry.get("key_from_env", False), student_server=entry.get("student_server", True),
            proxied=entry.get("proxied", False),
        )
        for entry in data["stage"]
    ]


def stage_by_id(stage_id: str) -> Stage:
    for stage in load_stages():
        if stage.id == stage_id or stage.number == stage_id:
            return stage
    known = ", ".join(stage.id for stage in load_stages())
    raise KeyError(f"no stage {stage_id!r}; the stages are: {known}")
