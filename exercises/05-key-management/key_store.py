"""The key store: one row per key in SQLite, holding a keyed hash of the key, never the key.

    KEYS_DB=keys.db KEY_PEPPER=... python -m keys issue --client alice --tools get_forecast

Why HMAC-SHA256 with a pepper, and not bcrypt or Argon2? Those are slow on
purpose, to make guessing *passwords* (which people choose, and which are weak)
expensive. Our keys are 190 random bits: nobody can enumerate them, at any hash
speed, so a slow hash would only cost every request tens of milliseconds of CPU
(a gift to anyone who wants to overload the server). The pepper, a secret that
lives in the server's environment and not in the database, means a stolen
database alone cannot even check a guess.
"""

from __future__ import annotations

import atexit
import hashlib
import hmac
import json
import os
import sqlite3
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from key_format import ParsedKey, new_key

SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    key_id       TEXT PRIMARY KEY,
    client       TEXT NOT NULL,
    secret_hash  BLOB NOT NULL,            -- HMAC-SHA256(pepper, key): never the key itself
    tools        TEXT NOT NULL,            -- JSON list of the tools the key may call; ["*"]: all of them
    created_at   REAL NOT NULL,            -- Unix time, like every time below
    expires_at   REAL,                     -- NULL: never expires
    revoked_at   REAL,                     -- NULL: not revoked
    replaced_by  TEXT,                     -- the successor, once the key was rotated
    uses         INTEGER NOT NULL DEFAULT 0,
    last_used_at REAL
)
"""

# Compared against when the key id is unknown, so an unknown id costs the same work as a known one.
NO_SUCH_KEY = bytes(32)

# How often the counts of uses reach the database: at most one write per key per interval.
USE_FLUSH_SECONDS = 5.0

# A row read from the database is used again until a key changes (see _row), and never longer than
# this: the bound for a change made without this module, such as an UPDATE typed into `sqlite3 keys.db`.
ROW_MAX_AGE_SECONDS = 5.0
ROWS_KEPT = 10_000  # rows remembered at once: memory stays bounded however many keys are in use


class KeyRefused(Exception):
    """The presented key does not let its bearer in. `reason` is one of: invalid, revoked, expired."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Caller:
    """Who is calling, as far as the server knows: what the guard hands to the MCP layer."""

    key_id: str
    client: str
    tools: frozenset[str]

    def may_call(self, tool: str) -> bool:
        return "*" in self.tools or tool in self.tools


@dataclass(frozen=True)
class KeyRecord:
    key_id: str
    client: str
    tools: tuple[str, ...]
    created_at: float
    expires_at: float | None
    revoked_at: float | None
    replaced_by: str | None
    uses: int
    last_used_at: float | None

    def status(self, now: float | None = None) -> str:
        now = time.time() if now is None else now
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


def digest(pepper: bytes, key: str) -> bytes:
    """The keyed hash of a whole key: 32 bytes, whatever the key's length."""
    # TODO: the keyed hash of the whole key: HMAC with SHA-256, keyed with the pepper. Keep it as raw
    #       bytes, not text: it is compared with the stored bytes (and with NO_SUCH_KEY, 32 zero bytes).
    raise NotImplementedError("digest is a TODO in key_store.py")


@lru_cache(maxsize=1024)
def tool_set(stored: str) -> frozenset[str]:
    """The tools of a key as stored (a JSON list), parsed once per distinct list rather than per request."""
    return frozenset(json.loads(stored))


def require_pepper() -> bytes:
    """The pepper from the environment. Without one, refuse to go on: fail closed."""
    pepper = os.environ.get("KEY_PEPPER", "").strip()
    if len(pepper) < 16:
        sys.exit(
            "KEY_PEPPER is not set (or shorter than 16 characters). It keys the hashes of the API keys;\n"
            "choose one, keep it out of the database and out of git, and give the server and `python -m keys`\n"
            "the same one, for example:\n"
            "  export KEY_PEPPER=$(python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return pepper.encode()


class KeyStore:
    """API keys in an SQLite file, opened on first use (in each process that uses it)."""

    def __init__(self, path: str, pepper: bytes | None = None) -> None:
        self.path, self.pepper = path, pepper
        self._db: sqlite3.Connection | None = None
        # Uses counted in memory since the last flush: {key_id: (count, last used at)}.
        self._uses: dict[str, tuple[int, float]] = {}
        self._uses_lock = threading.Lock()
        self._flusher: threading.Thread | None = None
        self._stopping = threading.Event()
        # Rows already read, by key id, with when they were read; valid while the change log keeps its size.
        self._rows: dict[str, tuple[sqlite3.Row, float]] = {}
        self._rows_changes = -1
        self._change_log_fd: int | None = None  # held open: fstat() skips the path lookup of stat()

    @classmethod
    def from_env(cls, *, need_pepper: bool = True) -> "KeyStore":
        return cls(os.environ.get("KEYS_DB", "keys.db"), require_pepper() if need_pepper else None)

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = self._connect()
        return self._db

    @property
    def change_log(self) -> str:
        """A file beside the database that grows by one byte whenever a key changes (see _row)."""
        return self.path + ".changes"

    def _connect(self) -> sqlite3.Connection:
        for path in (self.path, self.change_log):
            if not os.path.exists(path):  # readable by its owner only, from the first byte
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        # Autocommit: every statement is its own transaction unless we BEGIN one.
        db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        db.execute("PRAGMA busy_timeout = 10000")  # wait for another process's write, do not fail
        # Write-ahead log: readers never wait for a writer, and a writer never waits for readers.
        db.execute("PRAGMA journal_mode = WAL")
        db.execute(SCHEMA)
        db.row_factory = sqlite3.Row
        return db

    def close(self) -> None:
        self._stopping.set()
        if self._flusher is not None and self._flusher is not threading.current_thread():
            self._flusher.join(timeout=15)  # a flush under way finishes first: its counts are in its hands
        self.flush_uses()
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._change_log_fd is not None:
            os.close(self._change_log_fd)
            self._change_log_fd = None

    # -- checking a key (the server, on every request) ------------------------------------

    def authenticate(self, key: ParsedKey, now: float | None = None) -> Caller:
        """The caller a well-formed key belongs to, or KeyRefused.

        The row comes from _row: read again whenever a key changed, so a revocation is seen
        by the next request, in every worker process.
        """
        now = time.time() if now is None else now
        row = self._row(key.key_id)
        # TODO: is the presented key the stored one? Compare its digest with the digest stored in the row,
        #       in constant time. With no row, do the same comparison anyway, against the all-zero stand-in
        #       this module defines, so an unknown id costs the same work; a missing row and a wrong secret
        #       are both refused as "invalid".
        # TODO: only once the secret matched: a key that was revoked, or whose expiry is not after `now`,
        #       is refused with that reason (the holder of the right key may learn why; nobody else).
        # TODO: let the caller in: say who it is (key id, client) and which tools it may call, from the
        #       row (the tools are stored as a JSON list).
        raise NotImplementedError("authenticate is a TODO in key_store.py")

    def _row(self, key_id: str) -> sqlite3.Row | None:
        """The stored row of KEY_ID (None for an id never issued), read again as soon as any key changed.

        Every change made through this class (issue, rotate, revoke, from any process) appends
        a byte to the change log after it commits. One stat() of that file per request (a
        microsecond) tells whether a row read earlier may still be used; the SQLite read it
        saves costs tens of microseconds in a busy server. A revocation is therefore seen by
        the next request, in every worker, as before. Rows of unknown ids are not kept, so
        a flood of made-up ids cannot fill the memory, and a new key is found at once.
        """
        try:
            if self._change_log_fd is None:
                self._change_log_fd = os.open(self.change_log, os.O_RDONLY)
            log = os.fstat(self._change_log_fd)
            if log.st_nlink == 0:  # deleted or replaced: changes now grow another file
                os.close(self._change_log_fd)
                self._change_log_fd = os.open(self.change_log, os.O_RDONLY)
                log = os.fstat(self._change_log_fd)
                self._rows_changes = -1  # and what was kept is forgotten
            changes = log.st_size
        except OSError:
            self._change_log_fd = None
            changes = -1  # no change log to trust: read the database every time
        if changes < 0 or changes != self._rows_changes:
            self._rows.clear()
            self._rows_changes = changes
        kept = self._rows.get(key_id)
        if kept is not None and time.monotonic() - kept[1] < ROW_MAX_AGE_SECONDS:
            return kept[0]
        read_at = time.monotonic()
        row = self.db.execute(
            "SELECT key_id, client, secret_hash, tools, expires_at, revoked_at FROM api_keys WHERE key_id = ?",
            (key_id,),
        ).fetchone()
        if row is not None and changes >= 0 and (len(self._rows) < ROWS_KEPT or key_id in self._rows):
            self._rows[key_id] = (row, read_at)
        return row

    def _changed(self) -> None:
        """Tell every process that keeps rows (see _row) that a key changed: one byte more in the change log."""
        log = os.open(self.change_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(log, b".")
        finally:
            os.close(log)

    def record_use(self, key_id: str, now: float | None = None) -> None:
        """Count a request, in memory: no disk write on the request's path (see flush_uses)."""
        now = time.time() if now is None else now
        with self._uses_lock:
            count, _ = self._uses.get(key_id, (0, now))
            self._uses[key_id] = (count + 1, now)
            if self._flusher is None:
                self._flusher = threading.Thread(target=self._flush_every_interval, name="key-uses", daemon=True)
                self._flusher.start()
                atexit.register(self.close)

    def _flush_every_interval(self) -> None:
        while not self._stopping.wait(USE_FLUSH_SECONDS):
            self.flush_uses()

    def flush_uses(self) -> None:
        """Add the uses counted in memory to the database, in one transaction, from whatever thread calls it.

        A request never waits for this: a write lock held by another process (the CLI, a
        backup) delays the counts, never an answer. The increment happens inside SQLite, so
        two worker processes never lose one; counts that could not be written are kept for
        the next flush.
        """
        with self._uses_lock:
            pending, self._uses = self._uses, {}
        if not pending:
            return
        try:
            db = self._connect()  # its own connection: an sqlite3 connection belongs to one thread
            try:
                db.execute("BEGIN IMMEDIATE")
                db.executemany("UPDATE api_keys SET uses = uses + ?, last_used_at = max(coalesce(last_used_at, 0), ?)"
                               " WHERE key_id = ?", [(count, last, key_id) for key_id, (count, last) in pending.items()])
                db.execute("COMMIT")
            finally:
                db.close()
        except sqlite3.Error:
            with self._uses_lock:  # try again next time, with what was counted meanwhile
                for key_id, (count, last) in pending.items():
                    now_count, now_last = self._uses.get(key_id, (0, last))
                    self._uses[key_id] = (count + now_count, max(last, now_last))

    def is_active(self, key_id: str) -> bool:
        """Whether KEY_ID still lets its holder in (neither revoked nor expired), from any thread.

        An open stream asks this every few seconds, from a worker thread: it reads through
        a connection of its own (an sqlite3 connection belongs to one thread), read-only: it
        never creates the file. A key whose row cannot be read counts as ended: fail closed;
        the client reconnects, and its next request is checked in full.
        """
        try:
            db = sqlite3.connect(Path(self.path).absolute().as_uri() + "?mode=ro", uri=True, timeout=2)
            try:
                db.row_factory = sqlite3.Row
                row = db.execute("SELECT * FROM api_keys WHERE key_id = ?", (key_id,)).fetchone()
            finally:
                db.close()
        except sqlite3.Error:
            return False
        return row is not None and _record(row).status() == "active"

    # -- managing keys (the CLI) ------------------------------------------------------------

    def issue(self, client: str, tools: list[str], expires_at: float | None = None) -> tuple[KeyRecord, str]:
        """A new key for CLIENT. Returns its record and the full key, which is not kept anywhere."""
        if self.pepper is None:
            raise ValueError("issuing a key needs the pepper")
        while True:
            key_id, key = new_key()
            try:
                self.db.execute(
                    "INSERT INTO api_keys (key_id, client, secret_hash, tools, created_at, expires_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (key_id, client, digest(self.pepper, key), json.dumps(sorted(set(tools))), time.time(),
                     expires_at),
                )
                self._changed()
                return self.get(key_id), key
            except sqlite3.IntegrityError:  # the same random id twice: astronomically rare, try again
                continue

    def rotate(self, key_id: str, grace: float, expires_at: float | None = None) -> tuple[KeyRecord, str]:
        """A successor with the same client, tools and expiry; the old key keeps working for GRACE seconds at most.

        Both keys are valid during the grace period: deploy the new key to the client, and
        nothing breaks while the old one is still in use somewhere. The successor inherits
        the old key's expiry unless EXPIRES_AT is given: a rotation renews the secret, not the
        permission. A key is rotated once: a second rotation would leave two live successors.
        """
        with self.transaction():
            old = self.get(key_id)
            if old.status() != "active":
                raise ValueError(f"key {key_id} is {old.status()}: issue a new key instead")
            if old.replaced_by is not None:
                raise ValueError(f"key {key_id} was already rotated to {old.replaced_by}: rotate or revoke that one")
            new, key = self.issue(old.client, list(old.tools), old.expires_at if expires_at is None else expires_at)
            ends = time.time() + grace
            self.db.execute(
                "UPDATE api_keys SET expires_at = min(coalesce(expires_at, ?), ?), replaced_by = ? WHERE key_id = ?",
                (ends, ends, new.key_id, key_id),
            )
        return self.get(new.key_id), key

    @contextmanager
    def transaction(self):
        """BEGIN IMMEDIATE takes the write lock up front: another process waits (busy_timeout), never half-sees."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        self._changed()

    def revoke(self, key_id: str) -> KeyRecord:
        self.get(key_id)
        self.db.execute("UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE key_id = ?",
                        (time.time(), key_id))
        self._changed()
        return self.get(key_id)

    def get(self, key_id: str) -> KeyRecord:
        row = self.db.execute("SELECT * FROM api_keys WHERE key_id = ?", (key_id,)).fetchone()
        if row is None:
            raise KeyError(f"no key with id {key_id!r}")
        return _record(row)

    def all(self) -> list[KeyRecord]:
        return [_record(row) for row in self.db.execute("SELECT * FROM api_keys ORDER BY created_at")]


def _record(row: sqlite3.Row) -> KeyRecord:
    return KeyRecord(key_id=row["key_id"], client=row["client"], tools=tuple(json.loads(row["tools"])),
                     created_at=row["created_at"], expires_at=row["expires_at"], revoked_at=row["revoked_at"],
                     replaced_by=row["replaced_by"], uses=row["uses"], last_used_at=row["last_used_at"])
