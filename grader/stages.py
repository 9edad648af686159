"""The stage list, read from stages.toml at the top of the repository, and checked as it is read."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAGES_FILE = ROOT / "stages.toml"
SOLUTIONS = ROOT / "solutions"
EXERCISES = ROOT / "exercises"
CHECKS = Path(__file__).resolve().parent / "checks"


class StageDataError(ValueError):
    """stages.toml says something the workshop cannot use; the message names the stage and the key."""


class Hint(str):
    """A hint's first level (what `make grade` prints), knowing its topic and every level."""

    topic: str
    levels: tuple[str, ...]

    def __new__(cls, topic: str, levels: tuple[str, ...]) -> "Hint":
        hint = super().__new__(cls, levels[0])
        hint.topic, hint.levels = topic, levels
        return hint

    def level(self, number: int) -> str:
        """Level NUMBER (from 1); past the last level, the last one."""
        return self.levels[min(max(number, 1), len(self.levels)) - 1]


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
    short: str = ""  # the course map's words for it
    learn: str = ""  # what the student learns (README.md)
    secure: str = ""  # what the stage secures (lessons/README.md)
    traps: str = ""  # where it goes wrong (lessons/README.md)
    hints: dict[str, tuple[str, ...]] = field(default_factory=dict)
    notebook_shows: tuple[str, ...] = ()  # what its instructor notebook must print
    prepare: str = ""  # "module:function": the environment its servers need beyond API_KEY (grader.stage_env)
    key_from_env: bool = False
    student_server: bool = True
    proxied: bool = False
    # Processes its checks start beyond the servers (a CLI run per key, restarts, scripts): with
    # more than a couple, the grader starts them from a warm fork server (grader/launch.py).
    processes: int = 0
    # Files the student runs as programs beside the client (stage 07's exploits): running one at
    # import would attack something, so the import check only compiles them, as it does the client.
    scripts: tuple[str, ...] = ()

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

    def hint(self, topic: str) -> Hint:
        try:
            return Hint(topic, self.hints[topic])
        except KeyError:
            raise StageDataError(f"stages.toml: stage {self.id} has no hint {topic!r} (a check asks for it)") from None


REQUIRED = {"id", "title", "short", "learn", "secure", "traps", "app", "port", "endpoint", "client", "files", "todo",
            "points"}
KNOWN = {f.name for f in fields(Stage)}
TYPES = {"id": str, "title": str, "short": str, "learn": str, "secure": str, "traps": str, "app": str, "port": int,
         "endpoint": str, "client": str, "files": list, "todo": list, "points": (int, float), "hints": dict,
         "key_from_env": bool, "student_server": bool, "proxied": bool, "notebook_shows": list,
         "prepare": str, "processes": int, "scripts": list}


def _levels(stage_id: str, topic: str, value) -> tuple[str, ...]:
    levels = (value,) if isinstance(value, str) else tuple(value) if isinstance(value, list) else ()
    if not 1 <= len(levels) <= 3 or not all(isinstance(level, str) and level.strip() for level in levels):
        raise StageDataError(f"stages.toml: stage {stage_id}, hint {topic!r}: one string, or a list of 1 to 3 "
                             "non-empty strings (a nudge, where to look, how)")
    return levels


def parse_stages(data: dict) -> list[Stage]:
    """Stages from the parsed TOML, refusing an unknown key, a missing field or a value of the wrong type."""
    entries = data.get("stage")
    if not isinstance(entries, list) or not entries:
        raise StageDataError("stages.toml: no [[stage]] tables")
    unknown_top = set(data) - {"stage"}
    if unknown_top:
        raise StageDataError(f"stages.toml: unknown top-level key(s) {sorted(unknown_top)}")
    stages, seen = [], set()
    for number, entry in enumerate(entries, 1):
        name = entry.get("id", f"#{number}")
        missing, unknown = REQUIRED - set(entry), set(entry) - KNOWN
        if missing:
            raise StageDataError(f"stages.toml: stage {name} lacks {', '.join(sorted(missing))}")
        if unknown:
            raise StageDataError(f"stages.toml: stage {name} has unknown key(s) {', '.join(sorted(unknown))}")
        for key, value in entry.items():
            if not isinstance(value, TYPES[key]) or (TYPES[key] is int and isinstance(value, bool)):
                raise StageDataError(f"stages.toml: stage {name}, {key} = {value!r} has the wrong type")
        if name in seen:
            raise StageDataError(f"stages.toml: stage {name} appears twice")
        seen.add(name)
        outside = (set(entry["todo"]) | set(entry.get("scripts", ()))) - set(entry["files"])
        if outside or entry["client"] not in entry["files"]:
            raise StageDataError(f"stages.toml: stage {name}: todo, scripts and client must be among its files")
        if entry.get("prepare") and not re.fullmatch(r"[\w.]+:\w+", entry["prepare"]):
            raise StageDataError(f"stages.toml: stage {name}, prepare = {entry['prepare']!r}: write module:function")
        hints = {topic: _levels(name, topic, value) for topic, value in entry.get("hints", {}).items()}
        stages.append(Stage(**{**entry, "files": tuple(entry["files"]), "todo": tuple(entry["todo"]),
                               "points": float(entry["points"]), "hints": hints,
                               "scripts": tuple(entry.get("scripts", ())),
                               "notebook_shows": tuple(entry.get("notebook_shows", ()))}))
    return stages


@lru_cache(maxsize=None)
def _load(path: Path, stamp: int) -> tuple[Stage, ...]:
    with path.open("rb") as handle:
        return tuple(parse_stages(tomllib.load(handle)))


def load_stages(path: Path = STAGES_FILE) -> list[Stage]:
    return list(_load(path, path.stat().st_mtime_ns))


def forget_cached_stages() -> None:
    """Read stages.toml afresh next time (a tool that just wrote it)."""
    _load.cache_clear()


def stage_by_id(stage_id: str) -> Stage:
    for stage in load_stages():
        if stage.id == stage_id or stage.number == stage_id:
            return stage
    known = ", ".join(stage.id for stage in load_stages())
    raise KeyError(f"no stage {stage_id!r}; the stages are: {known}")


def stages_named(given: list[str]) -> list[Stage]:
    """The stages a command line names (`--stage 01 --stage 02,03` or "01 02"), every stage when none is named.

    KeyError, saying which stages there are, for a name that is none of them."""
    names = [name for item in given for name in item.replace(",", " ").split()]
    return [stage_by_id(name) for name in names] or load_stages()


def stage_of_checks(path: Path | str) -> Stage:
    """The stage a checks module grades, from its file name (test_04_pure_asgi.py -> 04-pure-asgi)."""
    for stage in load_stages():
        if stage.checks_file.name == Path(path).name:
            return stage
    raise KeyError(f"no stage in stages.toml is graded by {Path(path).name}")
