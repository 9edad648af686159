"""Other processes, seen through psutil: the one place the workshop looks at them.

The grader follows what it starts as a process tree (it is their subreaper, see
harness.py); the class grader's box without a PID namespace, `make watch` and the
tests find processes by a mark in their environment; a box picks a user id that no
running process has; a port already taken is named by the program that holds it.
"""

from __future__ import annotations

from pathlib import Path

import psutil


def alive(pid: int) -> bool:
    """Whether PID runs. A zombie (dead, its exit status not yet collected) does not count."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:  # it exists, but we may not look: it runs
        return True


def descendants(pid: int | None = None) -> list[psutil.Process]:
    """Every process below PID (this process when None), however deep."""
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def dead_children(pid: int | None = None) -> list[int]:
    """The direct children of PID (this process) that ended and wait to be collected (zombies)."""
    try:
        children = psutil.Process(pid).children()
    except psutil.Error:
        return []
    dead = []
    for child in children:
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                dead.append(child.pid)
        except psutil.Error:
            continue
    return dead


def carrying(name: str, value: str, *, prefix: bool = False) -> list[psutil.Process]:
    """Running processes whose environment holds NAME=VALUE (with PREFIX, a value that starts with VALUE).

    A mark in the environment is inherited by everything a process starts, whatever
    session or process group it moves to: what a process tree can lose, a mark keeps.
    """
    found = []
    for process in psutil.process_iter():
        try:
            held = process.environ().get(name)
        except psutil.Error:  # gone meanwhile, or not ours to read
            continue
        if held is not None and (held.startswith(value) if prefix else held == value):
            found.append(process)
    return found


def working_in(folder: Path) -> list[psutil.Process]:
    """Running processes whose working directory is FOLDER or below it."""
    found = []
    for process in psutil.process_iter():
        try:
            cwd = Path(process.cwd())
        except (psutil.Error, ValueError):
            continue
        if cwd == folder or folder in cwd.parents:
            found.append(process)
    return found


def kill(processes: list[psutil.Process], *, wait: float = 0.0) -> None:
    """SIGKILL each of PROCESSES (those already gone are fine), then wait up to WAIT seconds for them to end."""
    for process in processes:
        try:
            process.kill()
        except psutil.Error:
            pass
    if wait:
        psutil.wait_procs(processes, timeout=wait)


def user_ids_in_use() -> set[int]:
    """The real user ids of every running process."""
    used = set()
    for process in psutil.process_iter(["uids"]):
        uids = process.info["uids"]
        if uids is not None:
            used.add(uids.real)
    return used


def describe(process: psutil.Process) -> str:
    """A process in words: its command line, shortened ("python -m uvicorn main:app (pid 4242)")."""
    try:
        command = " ".join(" ".join(process.cmdline()).split())[:120] or process.name()
    except psutil.Error:
        command = "a process that ended"
    return f"{command} (pid {process.pid})"


def listening_on(port: int) -> list[psutil.Process]:
    """The processes listening on TCP PORT (as far as this user may see)."""
    try:
        connections = psutil.net_connections(kind="inet")
    except psutil.Error:
        return []
    holders = []
    for connection in connections:
        if connection.status == psutil.CONN_LISTEN and connection.laddr and connection.laddr.port == port \
                and connection.pid:
            try:
                holders.append(psutil.Process(connection.pid))
            except psutil.Error:
                continue
    return holders
