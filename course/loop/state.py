"""Progress that survives a restart: a small JSON file, never the grader's source of truth.

    {"welcomed_at": "...", "current": "01-middleware", "finished_at": null,
     "stages": {"01-middleware": {"passed_at": "...", "hints": {"register": 2}}}}

It lives in .workshop/progress.json (git-ignored); WORKSHOP_STATE or --state
points elsewhere (the tests use a scratch file). Backups from `make reset` and
the pristine starters go in the same folder.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from grader.stages import ROOT

DEFAULT_STATE = ROOT / ".workshop" / "progress.json"


def state_path(option: str | Path | None = None) -> Path:
    chosen = option or os.environ.get("WORKSHOP_STATE") or DEFAULT_STATE
    return Path(chosen).expanduser().resolve()


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class Progress:
    path: Path
    data: dict = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> "Progress":
        return cls(path, cls._read(path))

    def reload(self) -> None:
        """Changes start from what is on disk: `make hint` in one terminal, `make watch` in another."""
        self.data = self._read(self.path)

    @staticmethod
    def _read(path: Path) -> dict:
        try:
            data = json.loads(path.read_text())
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
        except FileNotFoundError:
            data = {}
        except (OSError, ValueError) as error:
            # A damaged diary must not stop the student: keep it aside and start a fresh one.
            aside = path.with_suffix(".damaged.json")
            path.replace(aside)
            print(f"note: {path} was unreadable ({error}); kept as {aside.name}, starting afresh", file=sys.stderr)
            data = {}
        data.setdefault("stages", {})
        return data

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Write aside, then rename: a Ctrl+C mid-write never leaves half a file.
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(json.dumps(self.data, indent=2) + "\n")
        os.replace(partial, self.path)

    @property
    def folder(self) -> Path:
        return self.path.parent

    def stage(self, stage_id: str) -> dict:
        return self.data["stages"].setdefault(stage_id, {})

    def passed(self, stage_id: str) -> bool:
        return bool(self.data["stages"].get(stage_id, {}).get("passed_at"))

    def hints_used(self, stage_id: str) -> dict[str, int]:
        return self.data["stages"].get(stage_id, {}).get("hints", {})

    def hint_level(self, stage_id: str, topic: str) -> int:
        return self.hints_used(stage_id).get(topic, 0)

    def next_hint_level(self, stage_id: str, topic: str, shown: int, most: int) -> int:
        """One level past both what was asked before and what is on screen (SHOWN), at most MOST; saved."""
        self.reload()
        level = min(max(self.hint_level(stage_id, topic), shown) + 1, most)
        self.stage(stage_id).setdefault("hints", {})[topic] = level
        self.save()
        return level

    def record(self, stage_id: str, passed: bool, summary: str) -> bool:
        """Note a grading result; True when this is the stage's first pass."""
        self.reload()
        entry = self.stage(stage_id)
        entry["last_graded_at"], entry["last_result"] = now(), summary
        first = passed and not entry.get("passed_at")
        if first:
            entry["passed_at"] = now()
        self.data["current"] = stage_id
        return first

    def forget_pass(self, stage_id: str) -> None:
        self.reload()
        entry = self.stage(stage_id)
        entry.pop("passed_at", None)
        entry["reset_at"] = now()
        self.data.pop("finished_at", None)
