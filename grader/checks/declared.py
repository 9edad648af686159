"""What a stage's checks module tells the shared checks it imports: one object, `DECLARED`.

The shared checks (common.py, keyless.py, leaks.py, timing.py) run in every stage
that imports them, and each needs a few facts about the stage: which endpoints to
probe, which file holds the comparison, which hints to give. A stage's module
states them once, in one place a reader can find:

    DECLARED = Declared(guarded_file="auth.py", endpoints=(...), protected=..., hints=hints)

and the shared checks read them with `declared(request)`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from grader.attacks import KeyRow


@dataclass
class Endpoint:
    """A request the shared checks send: the key table goes to each of a stage's endpoints."""

    method: str
    path: str
    body: dict | None = None
    headers: tuple[tuple[str, str], ...] = ()


@dataclass
class Hints:
    """Which hint a wrong answer gets: by what went wrong."""

    let_in: str  # the right key was refused
    keep_out: str  # no key at all got in
    compare: str  # a near miss got in
    crash: str | None = None
    challenge: str | None = None
    duplicates: str | None = None
    leak: str = ""

    def for_row(self, row: KeyRow) -> str:
        if row.name == "no X-API-Key header":
            return self.keep_out
        if "header twice" in row.name and self.duplicates:
            return self.duplicates
        return self.compare


@dataclass(frozen=True)
class Declared:
    # The file that compares the credential: the constant-time and the no-logging checks read it.
    guarded_file: str | None = None
    # True when that file compares digests (stage 05's key store) rather than the key itself.
    compares_digests: bool = False
    # What the credential table and the same-refusal check send every row to.
    endpoints: tuple[Endpoint, ...] = ()
    # What a server started without a key must not serve.
    protected: Endpoint | None = None
    # The hints of the credential table and of the key-in-a-cookie check: hints(stage) -> Hints.
    hints: Callable[[Any], Hints] | None = None
    # The hint topic for a live session's message endpoint answered without the key.
    live_session_hint: str = "register"
    # Points: a check named here weighs this much (whole ideas of a stage weigh more than one row).
    weights: Mapping[str, float] = field(default_factory=dict)
    # Shared checks the stage's starter already passes: they run, and are worth nothing.
    unscored: frozenset[str] = frozenset()


NOTHING_DECLARED = Declared()


def declared(request_or_module) -> Declared:
    """The DECLARED object of the checks module a pytest REQUEST (or an item's module) belongs to."""
    module = getattr(request_or_module, "module", request_or_module)
    return getattr(module, "DECLARED", NOTHING_DECLARED)
