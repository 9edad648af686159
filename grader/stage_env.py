"""What a stage's servers need before they start, beyond the run's API key.

A stage whose server reads more than API_KEY (a key store, a JWKS file, an
issuer) names a function in its stages.toml entry, `prepare = "module:function"`.
It runs in the grader's process before each of the stage's servers starts and
returns the environment variables that server gets:

    def prepare_key_store(folder: Path, run_dir: Path, run: RunValues) -> dict[str, str]: ...

`folder` is the stage folder of the server being started (the student's or the
reference's), `run_dir` a private folder of this server, removed after the run,
`run` what this grading run chose (its key, its forecast note): the grading
session holds them, nothing global does. A new stage writes its function in its
own checks module and names it there.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from grader.stages import Stage



@dataclass(frozen=True)
class RunValues:
    """What one grading run chose, for the servers it starts (the grading session makes them)."""

    key: str
    # A note the recorded weather carries this run only (stages 04 and 06): random, and derived from
    # nothing a submission can see (not the key), so a client that prints a pasted forecast misses it.
    forecast_note: str = ""
    # Random, for secrets a stage's servers hold that its checks must know (stage 07's flags): never the
    # key, so a server (or an exploit) that is given the key cannot work them out.
    seed: str = ""


Prepare = Callable[[Path, Path, RunValues], dict[str, str]]


def preparation(stage: Stage) -> Prepare | None:
    """The function STAGE's stages.toml entry names as its `prepare`, or None."""
    if not stage.prepare:
        return None
    module, _, name = stage.prepare.partition(":")
    return getattr(importlib.import_module(module), name)


def forecast_note(folder: Path, run_dir: Path, run: RunValues) -> dict[str, str]:
    """Stage 04: the recorded weather carries this run's note."""
    return {"NWS_RECORDING_NOTE": run.forecast_note} if run.forecast_note else {}


def prepare_key_store(folder: Path, run_dir: Path, run: RunValues) -> dict[str, str]:
    """Stage 05: a fresh key database and audit log for this server, and the run's key as the pepper.

    The database is created on first use (by the server or by `python -m keys`); the checks
    issue keys with the stage's own CLI, in FOLDER, with this same environment. The pepper is
    the run's key, so the shared check that the key never shows up in the output covers it.
    """
    return {"KEYS_DB": str(run_dir / "keys.db"), "AUDIT_LOG": str(run_dir / "audit.jsonl"), "KEY_PEPPER": run.key}


def prepare_bearer_tokens(folder: Path, run_dir: Path, run: RunValues) -> dict[str, str]:
    """Stage 06: the run's test issuer (its JWKS file and URL), and the forecast note."""
    from grader.tokens import prepare_bearer_tokens as issuer  # PyJWT: loaded only for stage 06

    return {**forecast_note(folder, run_dir, run), **issuer(folder, run_dir)}
