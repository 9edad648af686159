"""What a stage's servers need before they start, beyond the run's API key.

A stage whose server reads more than API_KEY (a key store, a JWKS file, an
issuer) registers a function here. It runs in the grader's process before the
server starts and returns the environment variables that server gets:

    PREPARE["05-key-management"] = prepare_key_store

    def prepare_key_store(folder: Path, run_dir: Path, key: str) -> dict[str, str]: ...

`folder` is the stage folder of the server being started (the student's or the
reference's), `run_dir` a private folder of this server, removed after the run.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path

Prepare = Callable[[Path, Path, str], dict[str, str]]

PREPARE: dict[str, Prepare] = {}


# A note the recorded weather carries this run only: random, and derived from nothing a submission can
# see (not the key), so a client that prints a pasted or computed forecast misses it.
FORECAST_NOTE = f"(recorded for run {secrets.token_hex(5)})"


def _forecast_note(folder: Path, run_dir: Path, key: str) -> dict[str, str]:
    return {"NWS_RECORDING_NOTE": FORECAST_NOTE}


PREPARE["04-pure-asgi"] = _forecast_note


def prepare_key_store(folder: Path, run_dir: Path, key: str) -> dict[str, str]:
    """Stage 05: a fresh key database and audit log for this server, and the run's key as the pepper.

    The database is created on first use (by the server or by `python -m keys`); the checks
    issue keys with the stage's own CLI, in FOLDER, with this same environment. The pepper is
    the run's key, so the shared check that the key never shows up in the output covers it.
    """
    return {"KEYS_DB": str(run_dir / "keys.db"), "AUDIT_LOG": str(run_dir / "audit.jsonl"), "KEY_PEPPER": key}


PREPARE["05-key-management"] = prepare_key_store


def _register() -> None:
    from grader.tokens import prepare_bearer_tokens

    def bearer_tokens(folder: Path, run_dir: Path, key: str) -> dict[str, str]:
        return {**_forecast_note(folder, run_dir, key), **prepare_bearer_tokens(folder, run_dir, key)}

    PREPARE["06-bearer-tokens"] = bearer_tokens


_register()
