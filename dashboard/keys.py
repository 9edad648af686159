"""Keys: one per student, issued by the instructor, and the instructor's own; only hashes are stored.

    dsk_3fK9aQ2LmX7p_Vq1...(32 characters)     a student's key: reports verdicts as that student, reads nothing
    dik_Zk8Q0a3Xe2Lm_Hh7...(32 characters)     the instructor's key: the page, its live updates, the exports

Stage 05's design, in a JSON file instead of SQLite (a class is a few dozen keys):
- the key id (12 characters) is not secret: it names the key in the file, the audit log and the CLI;
- the secret is 32 random base62 characters (about 190 bits), shown once when issued, never stored;
- the file (.dashboard/keys.json, owner-only) holds SHA-256(key). A slow password hash (bcrypt, Argon2)
  protects what people choose, which is guessable; nobody guesses 190 random bits, so a fast hash
  loses nothing, and it keeps a flood of wrong keys from costing the server a CPU-second each.
  Stage 05 adds a pepper (HMAC) so a stolen database alone cannot even test a guess; here the file
  sits on the instructor's own laptop beside the process that would hold the pepper, so it would
  add a secret to manage and no protection;
- a presented key is found by its id, then compared hash to hash with hmac.compare_digest (stage 01:
  constant time, so the time taken says nothing about how much of it was right);
- revoking marks the key; it is refused from the next request on, also by a server already running
  (the file is read again whenever it changes).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import string
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

ALPHABET = string.digits + string.ascii_letters
ID_LENGTH, SECRET_LENGTH = 12, 32
STUDENT_PREFIX, INSTRUCTOR_PREFIX = "dsk", "dik"
KEY_PATTERN = re.compile(rf"(?P<prefix>{STUDENT_PREFIX}|{INSTRUCTOR_PREFIX})_(?P<key_id>[0-9A-Za-z]{{{ID_LENGTH}}})"
                         rf"_[0-9A-Za-z]{{{SECRET_LENGTH}}}")
STUDENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # the instructor picks it: a plain, short name
UNKNOWN = hashlib.sha256(b"no such key").hexdigest()  # compared against when the id is unknown: same work


class Refused(Exception):
    """Why a key does not open the door: missing, malformed, invalid or revoked."""

    def __init__(self, reason: str, key_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason, self.key_id = reason, key_id


@dataclass(frozen=True)
class Student:
    name: str
    key_id: str


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def same_digest(presented: str, stored: str) -> bool:
    """SHA-256(PRESENTED) against a stored hex digest, in constant time, on bytes (as stage 01 compares)."""
    return hmac.compare_digest(digest(presented).encode(), stored.encode())


def new_key(prefix: str) -> tuple[str, str]:
    key_id = "".join(secrets.choice(ALPHABET) for _ in range(ID_LENGTH))
    return key_id, f"{prefix}_{key_id}_" + "".join(secrets.choice(ALPHABET) for _ in range(SECRET_LENGTH))


class KeyStore:
    """The keys file, read again when it changes on disk (the CLI revokes while the server runs)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / "keys.json"
        self._lock = threading.Lock()
        self._seen: tuple[int, int] | None = None
        self._data: dict = {"students": {}, "instructor": None}

    # -- the file ------------------------------------------------------------------------------

    def _fresh(self) -> dict:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._seen, self._data = None, {"students": {}, "instructor": None}
            return self._data
        seen = (stat.st_mtime_ns, stat.st_size)
        if seen != self._seen:
            self._data, self._seen = json.loads(self.path.read_text()), seen
        return self._data

    def _save(self, data: dict) -> None:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        partial = self.path.with_name(self.path.name + ".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # owner-only from its first byte
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2)
        os.replace(partial, self.path)
        self._seen = None

    # -- the instructor's CLI ------------------------------------------------------------------

    def issue(self, student: str) -> tuple[str, str]:
        """A new key for STUDENT: (key id, the key). The key is shown once and never stored."""
        if not STUDENT_NAME.fullmatch(student):
            raise ValueError(f"a student name is 1-64 letters, digits, '.', '_' or '-', not {student!r}")
        with self._lock:
            data = self._fresh()
            key_id, key = new_key(STUDENT_PREFIX)
            data["students"][key_id] = {"student": student, "sha256": digest(key), "issued_at": now(),
                                        "revoked_at": None}
            self._save(data)
        return key_id, key

    def revoke(self, name: str) -> list[str]:
        """Revoke a key by its id, or every active key of a student by the student's name: the ids revoked."""
        with self._lock:
            data = self._fresh()
            hit = [key_id for key_id, entry in data["students"].items()
                   if (key_id == name or entry["student"] == name) and not entry["revoked_at"]]
            for key_id in hit:
                data["students"][key_id]["revoked_at"] = now()
            if hit:
                self._save(data)
        return hit

    def records(self) -> list[dict]:
        return [{"key_id": key_id, **{k: v for k, v in entry.items() if k != "sha256"}}
                for key_id, entry in sorted(self._fresh()["students"].items(), key=lambda item: item[1]["student"])]

    def instructor_key(self, reset: bool = False) -> str | None:
        """A new instructor key if there is none yet (or RESET): returned once, to print. None: one exists."""
        with self._lock:
            data = self._fresh()
            if data.get("instructor") and not reset:
                return None
            key_id, key = new_key(INSTRUCTOR_PREFIX)
            data["instructor"] = {"key_id": key_id, "sha256": digest(key), "issued_at": now()}
            self._save(data)
        return key

    # -- the server ----------------------------------------------------------------------------

    def student(self, presented: str | None) -> Student:
        """The student a key belongs to, or Refused."""
        if not presented:
            raise Refused("missing")
        match = KEY_PATTERN.fullmatch(presented)
        if match is None or match["prefix"] != STUDENT_PREFIX:
            raise Refused("malformed")
        key_id = match["key_id"]
        entry = self._fresh()["students"].get(key_id)
        if not same_digest(presented, entry["sha256"] if entry else UNKNOWN) or entry is None:
            raise Refused("invalid", key_id)
        if entry["revoked_at"]:
            raise Refused("revoked", key_id)
        return Student(entry["student"], key_id)

    def is_instructor(self, presented: str | None) -> bool:
        match = KEY_PATTERN.fullmatch(presented or "")
        if match is None or match["prefix"] != INSTRUCTOR_PREFIX:
            return False
        entry = self._fresh().get("instructor") or {}
        return same_digest(presented, entry.get("sha256") or UNKNOWN) and bool(entry)

    def is_student_key(self, presented: str | None) -> bool:
        """Shaped like a student's key (whether or not it is valid): to say "a student key reads nothing"."""
        match = KEY_PATTERN.fullmatch(presented or "")
        return match is not None and match["prefix"] == STUDENT_PREFIX
