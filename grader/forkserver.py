"""A warm parent for the grader's subprocesses: it imports the heavy libraries once, then forks.

Every server, agent and import check the grader starts would otherwise spend
over a second importing uvicorn, FastAPI, the MCP SDK and the agents SDK before
running a line of student code. This process imports them once; each request
forks a child that sets itself up like a fresh `python ARGS` (own session and
process group, working directory, environment, output to a log file) and runs.
Student code still never runs in the grader's process: it runs in a child of
this one, which the grader talks to over a pipe (one JSON line per request).

    {"id": I, "op": "spawn", "argv": [...], "cwd": ..., "env": {...}, "log": ...} -> {"id": I, "pid": N}
    {"id": I, "op": "status", "pid": N} -> {"id": I, "status": None | exit code (negative: a signal)}
    {"id": I, "op": "kill", "pid": N, "signal": S} -> {"id": I}   (N's process group; N one of its children)

Replies carry the request's id: a client interrupted between a request and its
reply skips the stale reply next time instead of reading it as the answer.
"""

from __future__ import annotations

import atexit
import json
import os
import runpy
import signal
import sys
import threading
import traceback

PRELOAD = [
    "uvicorn", "uvicorn.main", "uvicorn.config", "uvicorn.server", "uvicorn.lifespan.on",
    "uvicorn.protocols.http.h11_impl", "uvicorn.protocols.websockets.auto", "uvicorn.loops.asyncio",
    "fastapi", "starlette.middleware.base", "mcp", "mcp.server", "mcp.client.sse",
    "mcp.client.streamable_http", "httpx", "httpx2", "dotenv", "sse_starlette",
]

_statuses: dict[int, int] = {}
_children: set[int] = set()


def _reap(*_) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _statuses[pid] = os.waitstatus_to_exitcode(status)
        _children.discard(pid)


def _stop(*_) -> None:
    """Asked to stop: take every child's process group along."""
    for pid in list(_children):
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    os._exit(0)


def _run(argv: list[str], cwd: str) -> None:
    """Run ARGV as `python ARGV` would (sys.orig_argv included: nothing says "forked by the grader")."""
    sys.orig_argv = [sys.executable, *argv]
    if argv[0] == "-m":
        sys.argv = [argv[1], *argv[2:]]
        sys.path.insert(0, cwd)
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
    elif argv[0] == "-c":
        sys.argv = ["-c", *argv[2:]]
        sys.path.insert(0, "")
        exec(compile(argv[1], "<string>", "exec"), {"__name__": "__main__"})
    else:
        script = os.path.abspath(argv[0])
        sys.argv = [argv[0], *argv[1:]]
        sys.path.insert(0, os.path.dirname(script))
        runpy.run_path(script, run_name="__main__")


_WRITING = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC


def _note_writes(record: str) -> None:
    """Append to RECORD the path of every file this process opens for writing, wherever it is.

    A Python audit hook (PEP 578) sees every open() of Python code (builtins, os, pathlib,
    tempfile, sqlite3), whatever path it names: the grader then reads those files for the key.
    Nothing about it shows in the environment or the arguments.
    """
    local = threading.local()
    write_line = open  # bound now: student code may replace builtins.open

    def hook(event: str, args: tuple) -> None:
        if event == "open":
            path, mode, flags = args
            if not isinstance(path, (str, bytes, os.PathLike)) or not (
                    (isinstance(mode, str) and any(char in mode for char in "wax+")) or (flags or 0) & _WRITING):
                return
        elif event == "os.rename":
            path = args[1]
        elif event == "sqlite3.connect":
            path = args[0]
        else:
            return
        if getattr(local, "busy", False):
            return
        local.busy = True
        try:
            with write_line(record, "a") as out:
                out.write(os.path.abspath(os.fsdecode(path)) + "\n")
        except Exception:
            pass
        finally:
            local.busy = False

    sys.addaudithook(hook)


def _child(request: dict) -> None:
    code = 1
    try:
        os.setsid()  # first: from here on the child leads its own process group
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL if sig != signal.SIGINT else signal.default_int_handler)
        os.chdir(request["cwd"])
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        os.close(null)
        sys.stdin = open(0, closefd=False)
        sys.stdout = open(1, "w", buffering=1, closefd=False)
        sys.stderr = open(2, "w", buffering=1, closefd=False)
        os.environ.clear()
        os.environ.update(request["env"])
        if request.get("writes"):
            _note_writes(request["writes"])
        _run(request["argv"], request["cwd"])
        code = 0
    except SystemExit as exit_:
        if exit_.code is None:
            code = 0
        elif isinstance(exit_.code, int):
            code = exit_.code
        else:  # sys.exit("message"): print it, status 1, as Python does
            print(exit_.code, file=sys.stderr)
            code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        try:
            atexit._run_exitfuncs()  # as a Python that ends does (a student's atexit handlers run here too)
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def main() -> None:
    for name in PRELOAD:
        __import__(name)
    replies = sys.stdout
    signal.signal(signal.SIGCHLD, _reap)
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the grader decides when this process ends
    replies.write(json.dumps({"ready": True}) + "\n")
    replies.flush()
    for line in sys.stdin:
        request = json.loads(line)
        if request["op"] == "spawn":
            replies.flush()
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
            pid = os.fork()
            if pid == 0:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
                _child(request)
            _children.add(pid)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
            replies.write(json.dumps({"id": request["id"], "pid": pid}) + "\n")
        elif request["op"] == "kill":  # for a grader of another user: only its own children's groups
            if request["pid"] in _children or request["pid"] in _statuses:
                try:
                    os.killpg(request["pid"], request["signal"])
                except OSError:
                    pass
            replies.write(json.dumps({"id": request["id"]}) + "\n")
        elif request["op"] == "status":
            _reap()
            replies.write(json.dumps({"id": request["id"], "status": _statuses.get(request["pid"])}) + "\n")
        replies.flush()
    _stop()


if __name__ == "__main__":
    main()
