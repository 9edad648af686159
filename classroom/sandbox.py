"""Run one student's grading in a box, so that a class can be graded side by side.

    run_boxed(command, box=Box(...), limits=Limits(...), isolation=detect())

What the box gives, where the machine allows it (Linux, root, util-linux `unshare`):

- its own network namespace: only a loopback interface, brought up, so the
  servers and the grader talk over 127.0.0.1 and nothing leaves the machine;
- its own PID namespace: when the grading ends (or is killed at its time
  limit) the kernel kills every process still in it, servers and forks alike;
- its own mount namespace in which every file system is read-only except the
  student's copy and a private temp folder (TMPDIR, HOME);
- a throwaway user id that owns the copy and the temp folder and nothing else,
  so even a file the box can see stays out of its reach, and the process limit
  counts this student's processes only;
- with a reference (`new_box(..., reference=True)`): the solutions and the git
  history hidden, and shown again in a folder of a second throwaway user, whose
  fork server (started by the box's first process) runs the reference's servers;
  the grader reaches it through pipes only it holds (`REFERENCE_SERVER`);
- resource limits (setrlimit) on CPU time, memory (address space) per process,
  the size of a file written and (with the throwaway user) the number of
  processes; a wall-time limit on the whole run.

Where a piece is missing, `detect()` says which and why, and the caller prints
it: the CPU, memory and file limits and the wall time always apply.

This module is also the box's first process (PID 1 of the new namespaces):
`python -m classroom.sandbox ...` sets the box up, starts the command as the
throwaway user and reaps orphans until the command ends. Standard library only.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import fcntl
import os
import random
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
# Set in the grader's environment when the reference runs apart: "REQUESTS_FD,REPLIES_FD,REFERENCE_FOLDER",
# the pipes to the reference's fork server (grader/forkserver.py), which runs as the reference's user.
REFERENCE_SERVER = "GRADER_REFERENCE_SERVER"

# Every process started in a box carries this variable; a box that lost its PID
# namespace (none available) is cleaned up by looking for it in /proc.
MARK = "GRADE_CLASS_BOX"

# Environment variables the box keeps from the instructor's environment; every
# other one (tokens, cloud credentials, the OpenAI key) stays out of the student's reach.
KEEP_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "NO_COLOR")
KEEP_PREFIXES = ("GRADER_",)


@dataclass(frozen=True)
class Limits:
    wall: float = 300.0             # seconds for one student's whole grading
    cpu: int = 120                  # CPU seconds per process
    memory: int = 2 * 1024 ** 3     # bytes of address space per process
    processes: int = 256            # processes and threads of the student's user at once
    file_size: int = 64 * 1024 ** 2  # bytes in any one file written


@dataclass(frozen=True)
class Isolation:
    namespaces: bool  # own network (loopback only), PID and mount namespaces
    user: bool        # a throwaway user id per run
    missing: tuple[str, ...] = ()  # what is not available here, and why

    def describe(self) -> str:
        have = ["limits on CPU time, memory and file size", "wall-time limit"]
        if self.namespaces:
            have[:0] = ["loopback-only network", "private PID namespace", "read-only file system but the copy"]
        if self.user:
            have[:0] = ["a throwaway user per student", "process limit"]
        text = "isolation: " + ", ".join(have)
        for reason in self.missing:
            text += f"\n  NOT AVAILABLE: {reason}"
        return text


def detect() -> Isolation:
    """What this machine lets the box do (tried, not guessed)."""
    if not sys.platform.startswith("linux"):
        return Isolation(False, False, (f"namespaces and user switch: Linux only (this is {sys.platform}); "
                                        "student code shares your network and files",))
    if os.geteuid() != 0:
        return Isolation(False, False, ("namespaces and user switch need root (run as root, e.g. in a container "
                                        "or VM); student code shares your network and files",))
    if shutil.which("unshare") is None:
        return Isolation(False, True, ("network, PID and mount namespaces: no `unshare` command "
                                       "(Debian: apt-get install util-linux); student code shares your network",))
    try:
        tried = subprocess.run(_unshare() + ["true"], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        tried = None
    if tried is None or tried.returncode != 0:
        why = tried.stderr.strip() if tried else "timed out"
        return Isolation(False, True, (f"network, PID and mount namespaces: `unshare` failed here ({why}); "
                                       "student code shares your network",))
    return Isolation(True, True)


def _unshare() -> list[str]:
    # --kill-child: if unshare itself is killed (the wall-time limit), its child, PID 1 of
    # the box, gets SIGKILL, and with it every process of the PID namespace.
    return ["unshare", "--net", "--mount", "--pid", "--fork", "--mount-proc", "--kill-child"]


@dataclass(frozen=True)
class Box:
    """Where one run may write: its copy and its temp folder, both owned by UID.

    With REFERENCE, the box's first process shows the reference solutions there, in a folder only
    REFERENCE_UID may enter, and runs the reference's processes as that user: the student's code
    (UID) finds neither the files nor anything of those processes in /proc.
    """

    copy: Path
    tmp: Path
    uid: int | None = None
    reference: Path | None = None
    reference_uid: int | None = None

    def chown(self) -> None:
        if self.uid is None:
            return
        for top in (self.copy, self.tmp):
            for folder, dirs, files in os.walk(top):
                for name in [folder, *(os.path.join(folder, entry) for entry in dirs + files)]:
                    # Never follow a link: a submitted symlink to /etc/shadow must stay a link.
                    os.chown(name, self.uid, self.uid, follow_symlinks=False)


def new_box(work: Path, isolation: Isolation, source: Path | None = None, *, reference: bool = False) -> Box:
    """WORK/submission (a copy of SOURCE) and WORK/tmp, owned by a fresh user, private to it.

    REFERENCE (full isolation only): WORK/reference, where the box mounts the solutions for a
    second fresh user that runs them, closed to the first."""
    if isolation.user and not isolation.namespaces:  # with namespaces the box reveals the way (_reveal)
        closed = [folder for folder in work.parents if not folder.stat().st_mode & 0o001]
        if closed:
            raise PermissionError(f"{closed[0]} is closed to other users, so a box under it cannot reach its own "
                                  "copy: put it elsewhere (TMPDIR) or chmod o+x it")
    work.mkdir(mode=0o711)  # its user may pass through to its own folders, not list anything
    box = Box(copy=work / "submission", tmp=work / "tmp", uid=free_uid() if isolation.user else None)
    if reference and isolation.namespaces and isolation.user:
        apart = work / "reference"
        apart.mkdir(mode=0o700)
        (apart / "solutions").mkdir()  # the mount point
        box = Box(box.copy, box.tmp, box.uid, apart / "solutions", free_uid())
        os.chown(apart, box.reference_uid, box.reference_uid)
    if source is None:
        box.copy.mkdir()
    else:
        # symlinks=True: a link in the submission is copied as a link, never as the file
        # it points to (which could be one only the instructor may read).
        shutil.copytree(source, box.copy, symlinks=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    box.tmp.mkdir()
    box.chown()
    for private in (box.copy, box.tmp):
        private.chmod(0o700)  # other students' users cannot look in
    return box


_HANDED_OUT: set[int] = set()
_UID_LOCK = threading.Lock()


def free_uid() -> int:
    """A user id no account, no running process and no other box of this run has."""
    import pwd

    from grader import processes  # here, not at the top: the box's first process never needs psutil

    taken = processes.user_ids_in_use()
    with _UID_LOCK:
        while True:
            uid = random.randrange(1_800_000_000, 1_900_000_000)
            try:
                pwd.getpwuid(uid)
            except KeyError:
                if uid not in taken and uid not in _HANDED_OUT:
                    _HANDED_OUT.add(uid)
                    return uid


@dataclass
class Outcome:
    returncode: int | None  # None: stopped at the wall-time limit
    seconds: float
    output: str

    @property
    def timed_out(self) -> bool:
        return self.returncode is None


def box_env(box: Box, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items()
           if name in KEEP_ENV or name.startswith(KEEP_PREFIXES)}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.update(HOME=str(box.tmp), TMPDIR=str(box.tmp), PYTHONDONTWRITEBYTECODE="1")
    env.update(extra or {})
    return env


def run_boxed(command: list[str], box: Box, limits: Limits, isolation: Isolation, *, cwd: Path = ROOT,
              env: dict[str, str] | None = None, log: Path | None = None,
              pass_fds: tuple[int, ...] = (), hide: tuple[Path, ...] = ()) -> Outcome:
    """Run COMMAND in a box; stop it (and everything it started) at the wall-time limit.

    CWD defaults to the repository, not the copy: `python -m grader` puts its working
    folder first on sys.path, and a submission must not be able to shadow the grader.
    """
    mark = f"{os.getpid()}-{time.monotonic_ns()}"
    environment = box_env(box, {**(env or {}), MARK: mark})
    enter = [sys.executable, "-m", "classroom.sandbox", "--copy", str(box.copy), "--tmp", str(box.tmp),
             "--cwd", str(cwd), "--cpu", str(limits.cpu), "--memory", str(limits.memory),
             "--file-size", str(limits.file_size)]
    if box.uid is not None and isolation.user:
        # The process limit counts every process of a user: it means something only for a user
        # of its own (for root it does not apply; for your user it would count your processes too).
        enter += ["--uid", str(box.uid), "--processes", str(limits.processes)]
    if box.reference is not None:
        # The solutions appear only at box.reference, for the reference's user; where they are, an empty folder.
        enter += ["--reference-from", str(SOLUTIONS), "--reference-at", str(box.reference),
                  "--reference-uid", str(box.reference_uid)]
        hide = (*hide, SOLUTIONS, *git_stores(ROOT))  # the history holds the solutions too
    if isolation.namespaces:
        # What the grader needs besides the copy: the repository, its .venv and the Python it was made from.
        needed = [ROOT, sys.prefix, sys.base_prefix] + ([box.reference.parent] if box.reference else [])
        enter = _unshare() + enter + ["--namespaces", *[f"--reveal={path}" for path in needed],
                                      *[f"--hide={path}" for path in hide]]
    log = log or box.tmp.parent / "output.log"
    started = time.monotonic()
    with log.open("wb") as out:
        with _RUNNING_LOCK:
            if _STOPPING:
                raise KeyboardInterrupt
            process = subprocess.Popen(enter + ["--", *command], cwd=ROOT, env=environment, stdout=out,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                                       pass_fds=pass_fds)
            _RUNNING[process.pid] = mark
        try:
            returncode = process.wait(timeout=limits.wall)
        except subprocess.TimeoutExpired:
            returncode = None
        finally:
            _kill_group(process.pid)
            process.wait()
            _kill_marked(mark)
            with _RUNNING_LOCK:
                _RUNNING.pop(process.pid, None)
    output = log.read_text(errors="replace")
    return Outcome(returncode, time.monotonic() - started, output)


def git_stores(root: Path) -> list[Path]:
    """Where ROOT's git history lives: ROOT/.git, or for a worktree (.git a file) its own and the shared one."""
    dot_git = root / ".git"
    if dot_git.is_dir():
        return [dot_git]
    try:
        own = (root / dot_git.read_text().removeprefix("gitdir:").strip()).resolve()
        common = (own / (own / "commondir").read_text().strip()).resolve()
    except OSError:
        return []
    return [own, common] if common != own else [own]


_RUNNING: dict[int, str] = {}  # the boxes running now: pid of each one's first process -> its mark
_RUNNING_LOCK = threading.Lock()
_STOPPING: list[bool] = []


def stop_every_box() -> None:
    """Ctrl+C, SIGTERM: kill every box now (each dies with its namespace), start no more."""
    with _RUNNING_LOCK:
        _STOPPING.append(True)
        running = dict(_RUNNING)
    for pid, mark in running.items():
        _kill_group(pid)
        _kill_marked(mark)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _kill_marked(mark: str) -> None:
    """Kill what a box without a PID namespace left behind (servers in sessions of their own)."""
    from grader import processes

    for _ in range(3):  # a process may fork while we look: look again
        found = processes.carrying(MARK, mark)
        if not found:
            return
        processes.kill(found)
        time.sleep(0.05)


# ---------------------------------------------------------------------------
# Inside the box: PID 1 of the new namespaces (or a plain parent without them).

_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 1, 2, 4, 8
_MS_REMOUNT, _MS_BIND, _MS_REC = 32, 4096, 16384
_ST_FLAGS = {os.ST_NOSUID: _MS_NOSUID, os.ST_NODEV: _MS_NODEV, os.ST_NOEXEC: _MS_NOEXEC}


def _mount(source: str, target: str, flags: int, fstype: str | None = None, data: str | None = None) -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    if libc.mount(source.encode(), target.encode(), fstype and fstype.encode(), flags,
                  data and data.encode()) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"mount {target}: {os.strerror(error)}")


def _loopback_up() -> None:
    """`ip link set lo up`, without needing iproute2: the SIOCSIFFLAGS ioctl."""
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sh", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(sock, siocgifflags, request))[1]
        fcntl.ioctl(sock, siocsifflags, struct.pack("16sh", b"lo", flags | iff_up))


def _mount_points() -> list[str]:
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].encode().decode("unicode_escape")  # "\040" is a space
        if point not in points:
            points.append(point)
    return points


def _closed_folder_above(path: str) -> str | None:
    """The topmost folder on the way to PATH that other users cannot pass through (e.g. /root, 0700)."""
    parts = Path(path).parts
    for depth in range(2, len(parts)):
        folder = os.path.join(*parts[:depth])
        if not os.stat(folder).st_mode & 0o001:
            return folder
    return None


def _only_the_way_to(top: str, inside: list[str]) -> None:
    """Over TOP, a tmpfs that holds only the way to each folder INSIDE, each bound back in place."""
    handles = {path: os.open(path, os.O_PATH) for path in inside}  # still reachable once the tmpfs hides them
    _mount("tmpfs", top, _MS_NOSUID | _MS_NODEV, "tmpfs", "mode=0755")
    for path, handle in handles.items():
        os.makedirs(path, mode=0o755, exist_ok=True)
        _mount(f"/proc/self/fd/{handle}", path, _MS_BIND | _MS_REC)
        os.close(handle)


def _outermost(paths: list[str]) -> list[str]:
    paths = sorted({os.path.realpath(path) for path in paths})
    return [path for path in paths if not any(path.startswith(other + os.sep) for other in paths)]


def _reveal(paths: list[str], hidden: list[str] = ()) -> None:
    """Let the throwaway user reach PATHS when a folder on their way is closed (a checkout in /root, a
    private TMPDIR), and hide the HIDDEN folders (every student's submission, the other boxes): in this
    mount namespace only, a tmpfs over such a folder holds just the way to the paths the box needs.
    Nothing changes outside, and the rest of the folder is out of sight."""
    wanted = _outermost(paths)
    tops: dict[str, list[str]] = {os.path.realpath(folder): [] for folder in hidden}
    for path in wanted:
        closed = _closed_folder_above(path)
        if closed is not None:
            tops.setdefault(closed, [])
        for top in tops:
            if path.startswith(top + os.sep):
                tops[top].append(path)
    for top in sorted(tops, key=len):
        if os.path.isdir(top):
            _only_the_way_to(top, tops[top])


def _read_only_except(writable: list[str]) -> None:
    """Every mount read-only but the writable folders (each bound onto itself first: its own mount, kept rw)."""
    for folder in writable:
        _mount(folder, folder, _MS_BIND | _MS_REC)
    for point in _mount_points():
        if point in writable or point == "/proc" or point.startswith(("/proc/", "/sys")):
            continue
        try:
            current = os.statvfs(point).f_flag
        except OSError:
            continue
        if current & os.ST_RDONLY:
            continue
        keep = sum(flag for st, flag in _ST_FLAGS.items() if current & st)
        try:
            _mount("none", point, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | keep)
        except OSError:
            pass  # a mount we may not touch stays as it is; the user switch still guards it


def _limit(options) -> None:
    limits = [(resource.RLIMIT_CPU, options.cpu), (resource.RLIMIT_AS, options.memory),
              (resource.RLIMIT_FSIZE, options.file_size), (resource.RLIMIT_CORE, 0)]
    if options.processes is not None:
        limits.append((resource.RLIMIT_NPROC, options.processes))
    for name, value in limits:
        resource.setrlimit(name, (value, value))


def _become(uid: int) -> None:
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)


def _start_reference_server(options) -> tuple[int, int]:
    """Start `python -m grader.forkserver` as the reference's user; the command inherits its pipes.

    Only the grader holds them (its children never inherit them, and it makes itself
    non-dumpable, so the student's code, which runs as the grader's user, cannot reopen
    them through /proc): the student's code cannot ask this server to run anything.
    """
    requests_in, requests_out = os.pipe()
    replies_in, replies_out = os.pipe()
    server = os.fork()
    if server == 0:
        try:
            os.dup2(requests_in, 0)
            os.dup2(replies_out, 1)
            quiet = os.open(os.devnull, os.O_WRONLY)
            os.dup2(quiet, 2)
            _limit(options)
            _become(options.reference_uid)
            os.chdir(ROOT)
            os.execv(sys.executable, [sys.executable, "-m", "grader.forkserver"])
        finally:
            os._exit(127)
    os.close(requests_in)
    os.close(replies_out)
    for fd in (requests_out, replies_in):
        os.set_inheritable(fd, True)
    os.environ[REFERENCE_SERVER] = f"{requests_out},{replies_in},{options.reference_at}"
    return requests_out, replies_in


def enter(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m classroom.sandbox")
    parser.add_argument("--copy", required=True)
    parser.add_argument("--tmp", required=True)
    parser.add_argument("--cwd", required=True)
    parser.add_argument("--uid", type=int)
    parser.add_argument("--cpu", type=int, required=True)
    parser.add_argument("--memory", type=int, required=True)
    parser.add_argument("--processes", type=int)
    parser.add_argument("--file-size", type=int, required=True)
    parser.add_argument("--namespaces", action="store_true")
    parser.add_argument("--reveal", action="append", default=[], help="a folder the box must reach")
    parser.add_argument("--hide", action="append", default=[], help="a folder the box must not see")
    parser.add_argument("--reference-from", help="the solutions, hidden from the box (--hide it too)")
    parser.add_argument("--reference-at", help="where the reference's user finds them")
    parser.add_argument("--reference-uid", type=int)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    options = parser.parse_args(argv)
    command = options.command[1:] if options.command[:1] == ["--"] else options.command
    reference = None
    if options.namespaces:
        _loopback_up()
        if options.reference_from:
            reference = os.open(options.reference_from, os.O_PATH)  # still reachable once hidden
        _reveal([options.copy, options.tmp, options.cwd, *options.reveal], options.hide)
        if reference is not None:
            # Not recursive: the tmpfs now over the solutions would come along and hide them here too.
            _mount(f"/proc/self/fd/{reference}", options.reference_at, _MS_BIND)
            os.close(reference)
        # Real paths: mountinfo lists those, and a symlink on the way must not make the copy read-only.
        _read_only_except([os.path.realpath(options.copy), os.path.realpath(options.tmp)])
    kept = _start_reference_server(options) if reference is not None else ()
    child = os.fork()
    if child == 0:
        try:
            _limit(options)
            if options.uid is not None:
                _become(options.uid)
            os.chdir(options.cwd)
            os.execvp(command[0], command)
        except BaseException as error:  # never return into the parent's code
            print(f"the box could not start {command[0]}: {error}", file=sys.stderr, flush=True)
        finally:
            os._exit(127)
    for fd in kept:  # the grader holds them now: EOF reaches the reference's fork server when it ends
        os.close(fd)
    # PID 1 of the box reaps every orphan; when the command ends, so does the box, and the
    # kernel kills whatever is left in the namespace. (Without namespaces the caller does.)
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return 127
        except InterruptedError:
            continue
        if pid == child:
            code = os.waitstatus_to_exitcode(status)
            return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.stdout.flush()
    os._exit(enter())
