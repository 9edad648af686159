"""Stage 05's key format and key store, in process: the properties the lesson promises."""

from __future__ import annotations

import importlib
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grader.stages import SOLUTIONS

sys.path.insert(0, str(SOLUTIONS / "05-key-management"))
key_format = importlib.import_module("key_format")
key_store = importlib.import_module("key_store")
sys.path.pop(0)

BOUNDED = settings(max_examples=200, derandomize=True, database=None, deadline=None)


@BOUNDED
@given(st.data())
def test_the_checksum_catches_any_one_character_typo(data):
    _, key = key_format.new_key()
    assert key_format.parse_key(key) is not None
    at = data.draw(st.integers(0, len(key) - 1))
    # Another character at that place: the same draws whatever the (random) key is.
    characters = key_format.ALPHABET + "_-"
    typo = characters[(characters.index(key[at]) + data.draw(st.integers(1, len(characters) - 1))) % len(characters)]
    assert key_format.parse_key(key[:at] + typo + key[at + 1:]) is None


@BOUNDED
@given(st.integers(1, 55))
def test_a_truncated_key_is_malformed(cut):
    _, key = key_format.new_key()
    assert key_format.parse_key(key[:-cut]) is None


def test_a_key_names_its_id_and_non_ascii_bytes_are_malformed():
    key_id, key = key_format.new_key()
    assert key.startswith("mcpk_" + key_id + "_") and key_format.parse_key(key.encode()).key_id == key_id
    assert key_format.parse_key(key.encode() + "é".encode()) is None


@BOUNDED
@given(st.text(max_size=300))
def test_a_digest_is_32_bytes_whatever_the_key(text):
    assert len(key_store.digest(b"pepper-pepper-pepper", text)) == 32


@pytest.fixture
def store(tmp_path):
    opened = key_store.KeyStore(str(tmp_path / "keys.db"), b"a-pepper-for-the-tests")
    yield opened
    opened.close()


def refusal(store, key) -> str:
    with pytest.raises(key_store.KeyRefused) as refused:
        store.authenticate(key_format.parse_key(key))
    return refused.value.reason


def test_a_key_authenticates_its_client_with_its_tools(store):
    record, key = store.issue("alice", ["get_forecast"])
    caller = store.authenticate(key_format.parse_key(key))
    assert (caller.key_id, caller.client, caller.may_call("get_forecast"), caller.may_call("get_alerts")) == \
        (record.key_id, "alice", True, False)


def test_an_unknown_id_and_a_wrong_secret_are_both_just_invalid(store):
    record, _ = store.issue("alice", ["*"])
    assert refusal(store, key_format.new_key()[1]) == "invalid"
    assert refusal(store, key_format.new_key(key_id=record.key_id)[1]) == "invalid"


def test_another_pepper_accepts_nothing(store, tmp_path):
    _, key = store.issue("alice", ["*"])
    other = key_store.KeyStore(store.path, b"another-pepper-entirely")
    with pytest.raises(key_store.KeyRefused):
        other.authenticate(key_format.parse_key(key))
    other.close()


def test_rotation_keeps_the_old_key_through_its_grace_and_revocation_ends_a_key(store):
    old, old_key = store.issue("alice", ["*"])
    new, new_key = store.rotate(old.key_id, grace=3600)
    assert store.authenticate(key_format.parse_key(old_key)).key_id == old.key_id
    assert store.authenticate(key_format.parse_key(new_key)).key_id == new.key_id
    assert store.get(old.key_id).replaced_by == new.key_id
    newest, _ = store.rotate(new.key_id, grace=0)
    assert refusal(store, new_key) == "expired" and store.get(newest.key_id).status() == "active"
    store.revoke(old.key_id)
    assert refusal(store, old_key) == "revoked"
    with pytest.raises(ValueError):
        store.rotate(old.key_id, grace=0)  # a revoked key has no successor


def test_the_database_file_never_holds_a_key(store):
    keys = [store.issue(f"client-{n}", ["*"])[1] for n in range(5)]
    store.close()
    content = b"".join(path.read_bytes() for path in sorted(Path(store.path).parent.glob("keys.db*")))
    assert content and not any(key.encode() in content or key.split("_")[2].encode() in content for key in keys)


def reads_of_keys(store) -> list[str]:
    """Every SELECT the store's connection runs from now on (what the server pays for per request)."""
    statements: list[str] = []
    store.db.set_trace_callback(lambda sql: statements.append(sql) if sql.lstrip().startswith("SELECT") else None)
    return statements


def test_a_running_server_reads_a_key_once_while_nothing_changes_and_sees_a_cli_revocation_at_once(store):
    _, key = store.issue("alice", ["*"])
    server = key_store.KeyStore(store.path, store.pepper)  # the server's own store, as in its own process
    reads = reads_of_keys(server)
    for _ in range(5):
        server.authenticate(key_format.parse_key(key))
    assert len(reads) == 1, reads
    revoked = subprocess.run([sys.executable, "-m", "keys", "revoke", key.split("_")[1]],
                             cwd=SOLUTIONS / "05-key-management", capture_output=True, text=True,
                             env={**os.environ, "KEYS_DB": store.path, "KEY_PEPPER": store.pepper.decode()})
    assert revoked.returncode == 0, revoked.stdout + revoked.stderr
    assert refusal(server, key) == "revoked"  # the very next request, with no wait
    server.close()


def test_a_key_changed_behind_the_stores_back_is_refused_within_the_rows_max_age(store, monkeypatch):
    monkeypatch.setattr(key_store, "ROW_MAX_AGE_SECONDS", 0.2)
    record, key = store.issue("alice", ["*"])
    server = key_store.KeyStore(store.path, store.pepper)
    server.authenticate(key_format.parse_key(key))
    with sqlite3.connect(store.path) as shell:  # an UPDATE typed into `sqlite3 keys.db`: no change log
        shell.execute("UPDATE api_keys SET revoked_at = 1 WHERE key_id = ?", (record.key_id,))
    time.sleep(0.3)
    assert refusal(server, key) == "revoked"
    server.close()


def test_a_flood_of_unknown_key_ids_is_not_remembered(store):
    store.issue("alice", ["*"])
    for _ in range(50):
        assert refusal(store, key_format.new_key()[1]) == "invalid"
    assert not store._rows  # rows are kept for issued keys only: made-up ids cannot fill the memory


def test_a_change_log_deleted_under_a_running_server_still_carries_the_next_revocation_at_once(store):
    record, key = store.issue("alice", ["*"])
    server = key_store.KeyStore(store.path, store.pepper)
    server.authenticate(key_format.parse_key(key))
    os.unlink(store.change_log)  # `rm keys.db.changes`, or a backup restored over it
    store.revoke(record.key_id)  # writes a new change log
    assert refusal(server, key) == "revoked"
    server.close()
