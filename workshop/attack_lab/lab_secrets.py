"""How the lab server holds its secrets: taken out of the environment, in a process nobody can read.

The attack lab hides a flag behind each hole. A flag must be reachable only through the
hole, never by reading the server process from the side: another process of the same user
can read /proc/<pid>/environ, and could attach a debugger. So the server takes each secret
out of its environment at start, and marks its process as not dumpable (prctl), which makes
/proc/<pid>/environ, /proc/<pid>/mem and ptrace refuse every other process of its user.
"""

from __future__ import annotations

import ctypes
import os
import secrets

PR_SET_DUMPABLE = 4


def hide_this_process() -> None:
    """Mark this process as not dumpable (Linux); elsewhere, nothing happens."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def take(name: str) -> str:
    """The secret NAME from the environment, removed from it; a fresh random one when it is not set.

    A random value is safe to fall back to: nobody can guess it. (A fixed default would
    be a published secret.)
    """
    value = os.environ.pop(name, "").strip()
    return value or f"FLAG{{{secrets.token_hex(12)}}}"
