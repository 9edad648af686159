"""The audit log, as stage 05 writes it: one JSON line per decision, who, what, when, and what came of it.

    {"time": "2026-12-05T10:15:02.114Z", "student": "alice", "key_id": "DrXW3wVNDivd", "client": "10.0.0.7",
     "action": "POST /api/verdicts", "outcome": "refused (reports as bob)"}

A line holds the key id, never the key. The file is created owner-only; O_APPEND and one write() per
line keep lines whole. A flood is written once per burst (guard.py), so nobody fills the disk through it.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def write(self, *, action: str, outcome: str, client: str, student: str | None = None,
              key_id: str | None = None) -> None:
        entry = {"time": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                 "student": student, "key_id": key_id, "client": client, "action": action, "outcome": outcome}
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (json.dumps(entry) + "\n").encode())
        finally:
            os.close(fd)

    def lines(self) -> list[dict]:
        try:
            return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]
        except FileNotFoundError:
            return []
