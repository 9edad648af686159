"""Does an unknown key id cost the work of a known one? Counted in the student's key store, never timed.

Timing two paths a few microseconds apart is noise on a loaded machine, so the
grader counts the work instead. A script, run in a subprocess in the stage
folder (student code never runs in the grader's process), wraps the
constant-time comparison before the student's key_store imports it, and
records every call into the C hashing modules (hashlib, hmac) with a profiler,
whatever name the code reached them by. It issues a key into a store of its
own, then authenticates well-formed keys made by the stage's key_format: the
issued key's id with another secret, and ids never issued, each fresh.
"""

from __future__ import annotations

import json
import secrets
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from grader.harness import Finished, run_dir, run_python

TRIALS = 3  # per path, after one warm-up call of each (a stand-in made once, on first use, is fine)

PROBE = r"""
import sys
tag, trials = sys.argv[1], int(sys.argv[2])

import _hashlib, _operator, hmac, json, os, secrets

compared = []
compare_digest = _hashlib.compare_digest
originals = {id(_hashlib.compare_digest), id(_operator._compare_digest)}


def shape(value):
    return [type(value).__name__, len(value) if hasattr(value, "__len__") else None]


def counted_compare(a, b):
    compared.append([shape(a), shape(b)])
    return compare_digest(a, b)


# Before the key store imports it, under every name it may be imported by.
for module, name in ((hmac, "compare_digest"), (secrets, "compare_digest"), (_hashlib, "compare_digest"),
                     (_operator, "_compare_digest")):
    setattr(module, name, counted_compare)

HASHING = {"_hashlib", "_sha1", "_sha2", "_sha256", "_sha512", "_sha3", "_md5", "_blake2", "_hmac"}
hashed = {}


def profile(frame, event, function):
    if event != "c_call" or id(function) in originals:
        return
    owner = getattr(function, "__self__", None)
    module = getattr(function, "__module__", None) or type(owner).__module__
    if module in HASHING or type(owner).__module__ in HASHING:
        name = f"{module}.{getattr(function, '__qualname__', '?')}"
        hashed[name] = hashed.get(name, 0) + 1


from key_format import new_key, parse_key
from key_store import KeyStore

store = KeyStore.from_env()
_, issued = store.issue("same-work-probe", ["*"])
known_id = parse_key(issued).key_id


def attempt(path):
    presented = parse_key(new_key(key_id=known_id if path == "known" else None)[1])
    compared.clear()
    hashed.clear()
    sys.setprofile(profile)
    try:
        store.authenticate(presented)
        outcome = "let in"
    except Exception as error:
        outcome = f"{type(error).__name__}: {getattr(error, 'reason', error)}"
    finally:
        sys.setprofile(None)
    return {"hashed": dict(hashed), "compared": list(compared), "outcome": outcome}


attempt("known"), attempt("unknown")
found = {"known": [], "unknown": []}
for _ in range(trials):
    for path in found:
        found[path].append(attempt(path))
sys.stdout.flush()
print(tag + json.dumps(found), flush=True)
os._exit(0)
"""


@dataclass
class Work:
    """What one authenticate() call did: hashing calls by name, constant-time comparisons by the shapes compared."""

    hashed: Counter
    compared: list[tuple[tuple[str, int | None], ...]]
    outcome: str

    @classmethod
    def of(cls, found: dict) -> "Work":
        return cls(Counter(found["hashed"]), sorted(tuple(tuple(side) for side in pair) for pair in found["compared"]),
                   found["outcome"])

    def covers(self, other: "Work") -> bool:
        """At least OTHER's hashing, and exactly its comparisons (on values of the same type and length)."""
        return not other.hashed - self.hashed and self.compared == other.compared

    def describe(self) -> str:
        hashing = ", ".join(f"{name} x{count}" for name, count in sorted(self.hashed.items())) or "no hashing"
        comparing = "; ".join(" vs ".join(f"{kind} of {length}" for kind, length in pair) for pair in self.compared)
        return (f"{hashing}; compare_digest " + (f"on {comparing}" if self.compared else "never called")
                + f"; outcome {self.outcome}")


@dataclass
class Measured:
    known: list[Work]
    unknown: list[Work]

    def same_work(self) -> bool:
        return all(unknown.covers(known) for known in self.known for unknown in self.unknown)


def measure(folder: Path, env: dict[str, str]) -> Measured | Finished:
    """Run the probe in FOLDER on a key store of its own; what it counted, or how the run ended when it could not."""
    tag = f"same-work-{secrets.token_hex(8)}:"
    with tempfile.TemporaryDirectory(prefix="same-work-", dir=run_dir()) as scratch:
        own = {"KEYS_DB": str(Path(scratch) / "keys.db"), "AUDIT_LOG": str(Path(scratch) / "audit.jsonl"),
               "KEY_PEPPER": secrets.token_urlsafe(32)}
        ran = run_python(folder, ["-c", PROBE, tag, str(TRIALS)], env={**env, **own}, timeout=60, label="same-work")
    lines = [line for line in ran.output.splitlines() if line.startswith(tag)]
    if not ran.ok or not lines:
        return ran
    found = json.loads(lines[-1].removeprefix(tag))
    return Measured([Work.of(one) for one in found["known"]], [Work.of(one) for one in found["unknown"]])
