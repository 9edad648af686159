"""Run student code in subprocesses: servers under uvicorn, scripts, import checks.

Every process gets its own process group, so killing the group also kills
whatever it started (uvicorn workers, reloaders, stray children). Processes are
tracked in a registry and killed at interpreter exit too, so an interrupted or
crashing grader leaves nothing behind.
"""

from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

# The most a server may take to answer on its port, whatever else is known. A broken
# server is normally given up on much sooner, measured against the reference server
# started beside it (see Server.give_up and grader.launch); this ceiling only counts
# when nothing is known, so it stays generous for a loaded machine.
# GRADER_START_TIMEOUT overrides it (tests use less).
START_TIMEOUT = float(os.environ.get("GRADER_START_TIMEOUT", "60"))

_LIVE: set[subprocess.Popen] = set()
_RUN_DIR: Path | None = None


def run_dir() -> Path:
    """This grader run's private folder (logs, key stores, keys): one per process, removed at exit.

    GRADER_KEEP=1 keeps it for debugging; the report names it then.
    """
    global _RUN_DIR
    if _RUN_DIR is None:
        _RUN_DIR = Path(tempfile.mkdtemp(prefix=f"grader-run-{os.getpid()}-"))
    return _RUN_DIR


def keeping_files() -> bool:
    return os.environ.get("GRADER_KEEP", "") not in ("", "0")


def new_log(label: str) -> Path:
    handle, name = tempfile.mkstemp(prefix=f"{label}-", suffix=".log", dir=run_dir())
    os.close(handle)
    return Path(name)


def _signal_group(process, sig: int) -> None:
    """os.killpg, or for a process of the reference's user (another user), asked of its fork server."""
    server = getattr(process, "server", None)
    if server is not None and server.apart:
        try:
            server.kill(process.pid, sig)
        except (OSError, ValueError):
            pass  # the box is ending: its PID namespace takes the process along
        return
    os.killpg(process.pid, sig)


def _kill_group(process, grace: float = 3.0) -> None:
    """SIGTERM the process group, then SIGKILL whatever is still there."""
    # Every process spawned here leads its own session, so its group id is its pid
    # (asking getpgid could catch a forked child before its setsid()): _signal_group signals that.
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            _signal_group(process, sig)
        except ProcessLookupError:
            try:  # not (yet) a group leader: signal the process itself
                os.kill(process.pid, sig)
            except ProcessLookupError:
                pass
        except PermissionError:
            pass
        try:
            process.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    try:  # children that outlived their parent
        _signal_group(process, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    _LIVE.discard(process)


def stop_servers(servers: list["Server"]) -> None:
    """Stop several servers at once: signal them all, then wait (their shutdowns overlap)."""
    running = [server for server in servers if server.process.poll() is None]
    for server in running:
        try:
            _signal_group(server.process, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
    for server in servers:
        server.stop()


def become_subreaper() -> bool:
    """Make this process the one that inherits every orphan among its descendants (Linux).

    A server that forks and lets its parent die (a daemon, a reloader) would otherwise be
    adopted by init and escape the process tree; as a subreaper, this process adopts it,
    so its descendants are all it ever started. Nothing of this shows inside the children.
    """
    global _SUBREAPER
    if _SUBREAPER is None:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            _SUBREAPER = libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
        except (OSError, AttributeError):
            _SUBREAPER = False
    return _SUBREAPER


PR_SET_CHILD_SUBREAPER = 36
_SUBREAPER: bool | None = None


def _owned() -> list[int]:
    """Every process this grader started, whoever started it on the grader's behalf.

    The registry knows what it was told; a Ctrl+C can land between a fork and its
    registration (in this process or in the fork server). The process tree knows the rest:
    this process is a subreaper, so even orphans stay its descendants.
    """
    from grader import processes

    return [child.pid for child in processes.descendants()]


def _reap_orphans() -> None:
    """Collect the exit status of adopted orphans (a subreaper's duty), leaving Popen's own children alone."""
    from grader import processes

    mine = {process.pid for process in _LIVE if isinstance(process, subprocess.Popen)}
    for pid in processes.dead_children():
        if pid in mine:
            continue
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass


@atexit.register
def kill_everything() -> None:
    for process in sorted(_LIVE, key=lambda process: isinstance(process, subprocess.Popen)):
        try:
            _kill_group(process, grace=1.0)  # the fork server last: it reports its children's exits
        except Exception:  # cleanup must go on: take the group down without waiting
            try:
                _signal_group(process, signal.SIGKILL)
            except OSError:
                pass
            _LIVE.discard(process)
    for pid in _owned():
        for kill in (os.killpg, os.kill):  # its group if it leads one, else itself
            try:
                kill(pid, signal.SIGKILL)
            except OSError:
                pass
    _reap_orphans()
    global _RUN_DIR
    if _RUN_DIR is not None and not keeping_files():
        shutil.rmtree(_RUN_DIR, ignore_errors=True)
        _RUN_DIR = None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# What only the grader reads (its own settings): none of it reaches student code.
GRADER_ONLY = ("OPENAI_API_KEY", "API_KEY", "MCP_SERVER_URL")
# The environment the grader was started in, before pytest (which runs the checks in this process)
# added its own variables (PYTEST_CURRENT_TEST, PYTEST_VERSION): those would say "graded".
STARTED_WITH = dict(os.environ)


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment student code runs in: yours, as `make serve` passes it, minus your secrets
    (API_KEY, OPENAI_API_KEY) and the grader's own settings (GRADER_*), plus EXTRA.

    Nothing in it says "graded": the grader tracks its processes by the process tree (it
    is their subreaper), not by a mark a submission could read and behave well only then.
    """
    env = {name: value for name, value in STARTED_WITH.items()
           if name not in GRADER_ONLY and not name.startswith("GRADER_")}
    env.update(extra or {})
    return env


def _alive(pid: int) -> bool:
    """Whether PID runs (a zombie, dead but not yet collected by its parent, does not count)."""
    from grader import processes

    return processes.alive(pid)


class _Forked:
    """A child of the fork server, with the part of Popen's interface the harness uses."""

    def __init__(self, server: "_ForkServer", pid: int) -> None:
        self.server, self.pid, self.returncode = server, pid, None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                self.returncode = self.server.status(self.pid)
            except (OSError, ValueError):  # the fork server is gone: ask the kernel instead
                self.returncode = None if _alive(self.pid) else -signal.SIGKILL
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout)
            time.sleep(0.02)
        return self.returncode


class _ForkServer:
    """The client side of grader.forkserver: one per grader process, started on first use."""

    # Its children are the grader's own: signalled directly, their writes noted (see _note_writes).
    apart = False

    def __init__(self) -> None:
        become_subreaper()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "grader.forkserver"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True, start_new_session=True, env=child_env(),
            cwd=Path(__file__).resolve().parent.parent,
        )
        _LIVE.add(self.process)
        self._talk(self.process.stdin, self.process.stdout)

    def _talk(self, requests, replies) -> None:
        self.requests, self.replies = requests, replies
        self.lock = threading.Lock()
        self.asked = 0
        self.ready = threading.Event()  # it loaded its libraries and takes requests
        self.settled = threading.Event()  # it said so, or it never will (it died, or said something else)
        threading.Thread(target=self._wait_ready, daemon=True).start()

    def _wait_ready(self) -> None:
        try:
            if json.loads(self.replies.readline() or "{}").get("ready") is True:
                self.ready.set()
        except ValueError:
            pass
        finally:
            self.settled.set()

    def _ask(self, request: dict) -> dict:
        # Its first line belongs to _wait_ready: two threads reading one pipe could each take the
        # other's line (a reply read as "not ready", and a request waiting forever for it).
        if not self.settled.wait(timeout=START_TIMEOUT) or not self.ready.is_set():
            raise OSError("the fork server did not come up")
        with self.lock:
            self.asked += 1
            request = {"id": self.asked, **request}
            self.requests.write(json.dumps(request) + "\n")
            self.requests.flush()
            while True:  # skip replies to requests an interrupt cut short
                answer = self.replies.readline()
                if not answer:
                    raise OSError("the fork server is gone")
                reply = json.loads(answer)
                if reply.get("id") == request["id"]:
                    return reply

    def spawn(self, command: list[str], folder: Path, env: dict[str, str], log: Path) -> _Forked:
        reply = self._ask({"op": "spawn", "argv": command[1:], "cwd": str(folder), "env": env, "log": str(log),
                           "writes": str(writes_of(log))})
        return _Forked(self, reply["pid"])

    def status(self, pid: int) -> int | None:
        return self._ask({"op": "status", "pid": pid})["status"]

    def kill(self, pid: int, sig: int) -> None:
        self._ask({"op": "kill", "pid": pid, "signal": int(sig)})


class _ReferenceServer(_ForkServer):
    """The fork server the box started as the reference's user (classroom/sandbox.py): every process in
    the reference's folder starts there, never as the grader's user, which is the student's too."""

    apart = True

    def __init__(self, requests: int, replies: int, folder: Path) -> None:
        self.folder = folder
        for fd in (requests, replies):
            os.set_inheritable(fd, False)
        self.process = _Channel()
        self._talk(open(requests, "w", buffering=1), open(replies))

    def holds(self, folder: Path) -> bool:
        return folder == self.folder or self.folder in folder.parents

    def spawn(self, command: list[str], folder: Path, env: dict[str, str], log: Path) -> _Forked:
        log.chmod(0o602)  # the reference's user writes it, the grader reads it
        reply = self._ask({"op": "spawn", "argv": command[1:], "cwd": str(folder), "env": env, "log": str(log)})
        return _Forked(self, reply["pid"])


class _Channel:
    """What stands for the process of a fork server the grader did not start: it runs as long as the box."""

    def poll(self) -> None:
        return None


def _reference_server_given() -> _ReferenceServer | None:
    """The box's reference fork server, when the box runs the reference apart (see classroom/sandbox.py)."""
    given = os.environ.get(REFERENCE_SERVER)
    if not given:
        return None
    requests, replies, folder = given.split(",", 2)
    # Non-dumpable: a process of the same user (the student's code) can no longer open this one's
    # descriptors, memory or environment through /proc, so the pipes above stay the grader's alone.
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE, 0) failed: the reference's pipes would be open")
    for folder_on_the_way in (run_dir(), run_dir().parent):  # its logs and key stores live there
        if folder_on_the_way.stat().st_uid == os.geteuid():
            folder_on_the_way.chmod(0o711)
    return _ReferenceServer(int(requests), int(replies), Path(folder))


PR_SET_DUMPABLE = 4
REFERENCE_SERVER = "GRADER_REFERENCE_SERVER"  # classroom.sandbox.REFERENCE_SERVER (this module loads no sandbox)
_reference_server = _reference_server_given()


def open_to_the_reference(folder: Path, env: dict[str, str]) -> None:
    """Let the reference's user write where its ENV names files of this run (a key store, a log): in the
    box only the grader's user (the student's too) and the reference's exist, so o+wx lets in the latter."""
    if _reference_server is None or not _reference_server.holds(folder):
        return
    for value in env.values():
        path = Path(value)
        if not value.startswith("/") or run_dir() not in path.parents:
            continue
        place = path if path.is_dir() else path.parent
        while place != run_dir():
            place.chmod(place.stat().st_mode & 0o7777 | 0o033)
            place = place.parent


_fork_server: _ForkServer | None = None


def start_fork_server() -> None:
    """Start the fork server (unless GRADER_FORKSERVER=0 or there is no fork()).

    It loads its libraries in the background; the first spawn waits for that
    (about as long as one cold start), and every later spawn is almost free.
    """
    global _fork_server
    if _fork_server is None and os.environ.get("GRADER_FORKSERVER", "1") != "0" and hasattr(os, "fork"):
        _fork_server = _ForkServer()


def fork_server_ready() -> bool:
    """True once the fork server can fork, or never will (or when there is none to wait for)."""
    server = _fork_server
    return server is None or server.settled.is_set() or server.process.poll() is not None


def _forking() -> _ForkServer | None:
    global _fork_server
    server = _fork_server
    if server is None:
        return None
    if not server.settled.wait(timeout=START_TIMEOUT) or not server.ready.is_set() or server.process.poll() is not None:
        _fork_server = None  # it did not come up: start processes the ordinary way
        return None
    return server


def writes_of(log: Path) -> Path:
    """Where a fork-server child whose output goes to LOG notes the files it opens for writing."""
    return log.with_suffix(".writes")


def written_files(log: Path) -> list[Path]:
    """The files a process opened for writing (known for fork-server children only; else none)."""
    try:
        return [Path(line) for line in dict.fromkeys(writes_of(log).read_text().splitlines()) if line]
    except OSError:
        return []


def _spawn(command: list[str], folder: Path, env: dict[str, str], log: Path, *, fresh: bool = False):
    """Start COMMAND in FOLDER: from the reference's or the warm fork server when one serves it, else a
    fresh interpreter. FRESH: always a fresh interpreter (secrets in ENV never pass through a fork
    server, which keeps the requests it read in its memory)."""
    if _reference_server is not None and _reference_server.holds(folder):
        # No fallback: the reference never runs as the grader's user, which the student's code shares.
        process = _reference_server.spawn(command, folder, env, log)
        _LIVE.add(process)
        return process
    server = None if fresh else _forking()
    if server is not None and command[0] == sys.executable:
        try:
            process = server.spawn(command, folder, env, log)
            _LIVE.add(process)
            return process
        except OSError:
            pass  # fall back to a fresh interpreter
    become_subreaper()
    with log.open("wb") as out:
        process = subprocess.Popen(
            # Unbuffered, so a line printed just before a crash is in the log (a fork-server child
            # line-buffers its output itself); the same setting `make serve` leaves to Python.
            command[:1] + ["-u"] + command[1:] if command[0] == sys.executable else command,
            cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
    _LIVE.add(process)
    return process


def uvicorn_command(app: str, port: int, *, root_path: str | None = None,
                    trusted_proxies: str | None = None) -> list[str]:
    """`python -m uvicorn APP` on loopback, believing X-Forwarded-* only from TRUSTED_PROXIES.

    uvicorn's default trusts them from 127.0.0.1: on a loopback server every local
    process could then choose its own client address (past a failure limit, into an
    audit log). No proxy named, no forwarded header believed.
    """
    command = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)]
    command += [f"--forwarded-allow-ips={trusted_proxies}"] if trusted_proxies else ["--no-proxy-headers"]
    if root_path:
        command += ["--root-path", root_path]
    return command


class ServerDidNotStart(Exception):
    pass


class Server:
    """`python -m uvicorn APP` in FOLDER on a free loopback port."""

    def __init__(self, folder: Path, app: str, *, env: dict[str, str] | None = None,
                 root_path: str | None = None, label: str = "server", fresh: bool = False) -> None:
        self.folder, self.app, self.label, self.root_path = folder, app, label, root_path
        self.env = dict(env or {})  # what this server was given beyond child_env (checks reuse it: a key store's path)
        self.port = free_port()
        self._log = new_log(label)
        command = uvicorn_command(app, self.port, root_path=root_path)
        self.process = _spawn(command, folder, child_env(env), self._log, fresh=fresh)
        self.spawned_at = time.monotonic()
        # Asked while waiting for the port: a reason to stop waiting (its code hangs at import,
        # it is far slower than the reference), or None to go on. Set by grader.launch.
        self.give_up: Callable[[], str | None] | None = None
        self.started = False
        self.ready_at: float | None = None
        self.failure: str | None = None
        self.exited: int | None = None  # its exit status, if it stopped on its own before it answered
        self.hung: str | None = None  # set once a request got no answer in time
        # When the port first answered, seen as it happens: the minimum uptime counts from then,
        # however late a check first asks (so that wait overlaps with the grader's own start).
        self._first_answer_lock = threading.Lock()
        threading.Thread(target=self._watch_first_answer, daemon=True, name=f"watch-{label}").start()

    def _watch_first_answer(self) -> None:
        while self.process.poll() is None and self.ready_at is None:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    self._answered()
                    return
            except OSError:
                time.sleep(0.05)

    def _answered(self) -> None:
        with self._first_answer_lock:
            if self.ready_at is None:
                self.ready_at = time.monotonic()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def where(self) -> str:
        return f"uvicorn {self.app}" + (f" --root-path {self.root_path}" if self.root_path else "")

    def written(self) -> list[Path]:
        """Every file this server opened for writing, wherever it is (empty when started without the fork server)."""
        return written_files(self._log)

    def log(self) -> str:
        try:
            return self._log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_ready(self, timeout: float = START_TIMEOUT) -> "Server":
        """Wait until the port accepts connections; fail fast if the process dies."""
        if self.started:
            return self
        if self.failure:
            raise ServerDidNotStart(self.failure)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.answering():
                return self
            reason = self.give_up() if self.give_up else None
            if reason:
                self.stop()
                self.failure = f"`{self.where}` {reason}"
                raise ServerDidNotStart(self.failure)
            time.sleep(0.05)
        self.stop()
        self.failure = f"`{self.where}` did not answer on its port within {timeout:.0f} s (it never started listening)."
        raise ServerDidNotStart(self.failure)

    def refused_to_start(self) -> bool:
        """Started without a credential it needs: True when it exited on its own before it answered
        (failing closed), False when it answers on its port. ServerDidNotStart when it did neither:
        not serving is not refusing (a start-up that waits, for input or a key, never says why)."""
        try:
            self.wait_ready()
        except ServerDidNotStart:
            if self.exited is not None:
                return True
            raise
        return False

    def answering(self) -> bool:
        """Whether the port accepts connections now (one quick try); raises once the process died."""
        if self.started:
            return True
        code = self.process.poll()
        if code is not None:
            self.exited = code
            self.failure = f"`{self.where}` exited with status {code} before it answered on its port."
            _LIVE.discard(self.process)
            raise ServerDidNotStart(self.failure)
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                self._answered()
                self.started = True
                return True
        except OSError:
            return False

    def exit_status(self) -> int | None:
        """None while the server runs; its exit status once it has stopped on its own."""
        return self.process.poll()

    def stop(self) -> None:
        # A server that never answered (stuck in its start-up) or stopped answering cannot shut down
        # gracefully either: no grace period to wait out, it would only delay the verdict.
        _kill_group(self.process, grace=3.0 if self.ready_at is not None and not self.hung else 0.0)
        self.started = False


@dataclass
class Finished:
    returncode: int | None  # None: killed after the time limit
    output: str
    timed_out: bool = False
    why: str = ""  # when it was cut short: why, in words
    written: tuple[Path, ...] = ()  # the files it opened for writing (known for fork-server children only)

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def copy_without_dotenv(folder: Path) -> Path:
    """A copy of FOLDER among this run's files, less its .env (and caches), under the same folder name.

    "Started without a key" must mean it: the lessons have students keep their key or pepper in
    .env, and python-dotenv would hand it back to a correct server that reads it.
    """
    copy = Path(tempfile.mkdtemp(prefix="copy-", dir=run_dir())) / folder.name
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns(".env", "__pycache__"))
    return copy


def run_python(folder: Path, args: list[str], *, env: dict[str, str] | None = None,
               timeout: float = 60.0, label: str = "script",
               give_up: Callable[[float], str | None] | None = None) -> Finished:
    """Run `python ARGS` in FOLDER to completion, killed with its group after TIMEOUT seconds,
    or sooner once GIVE_UP(seconds it has run) returns a reason."""
    log = new_log(label)
    # A script (an agent, a client) never exports traces: no network, and no wait for it at exit.
    process = _spawn([sys.executable, *args], folder, child_env({"OPENAI_AGENTS_DISABLE_TRACING": "1", **(env or {})}),
                     log)
    started = time.monotonic()
    why = ""
    try:
        while True:
            try:
                process.wait(timeout=0.05)
                break
            except subprocess.TimeoutExpired:
                pass
            ran = time.monotonic() - started
            why = (give_up(ran) if give_up else None) or (
                f"it did not finish within {timeout:.0f} s" if ran > timeout else "")
            if why:
                break
    finally:
        _kill_group(process, grace=0.0 if why else 1.0)  # one that ran out of time gets no more
    output = log.read_text(errors="replace")
    written = tuple(written_files(log))
    log.unlink(missing_ok=True)
    writes_of(log).unlink(missing_ok=True)
    return Finished(None if why else process.returncode, output, bool(why), why, written)


# Imports each module in turn; on failure prints only the student's own frames.
IMPORT_SCRIPT = """
import importlib, os, sys, traceback
for name in sys.argv[1:]:
    try:
        if name.startswith("compile:"):
            path = name.removeprefix("compile:")
            compile(open(path, encoding="utf-8").read(), path, "exec")
        else:
            importlib.import_module(name)
    except BaseException as error:
        print(f"{name.replace('compile:', 'compiling ')} failed:" if name.startswith("compile:") else f"import {name} failed:")
        here = os.getcwd()
        frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename.startswith(here)
                  and not f.filename.endswith("<string>")]
        print("".join(traceback.format_list(frames)) + "".join(traceback.format_exception_only(error)), end="")
        sys.exit(1)
print("imports OK")
"""

