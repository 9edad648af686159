"""Run a student's client with every outgoing connection written down: where did it send things?

The hook wraps socket.connect before the client's own code runs (in a cold
interpreter or a fork-server child alike) and appends each destination to a
file; the grader then compares the list with the one address it gave the client.
A client that works hard to hide its connections can; a sloppy one cannot.
"""

from __future__ import annotations

from pathlib import Path

# `python -c HOOK client.py`: the hook, then the client as __main__.
HOOK = """
import os, runpy, socket, sys
_log = os.environ.pop("GRADER_CONNECT_LOG")
_connect = socket.socket.connect
def connect(self, address):
    if isinstance(address, tuple):
        with open(_log, "a") as out:
            out.write(f"{address[0]}:{address[1]}\\n")
    return _connect(self, address)
socket.socket.connect = connect
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def destinations(log: Path) -> list[str]:
    try:
        return list(dict.fromkeys(log.read_text().split()))
    except OSError:
        return []
