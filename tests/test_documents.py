"""Every command the documents give works as typed: README.md, lessons/README.md and every lesson.

How a document marks what a student or an instructor types (the convention this test reads):

- Every ```bash block (also ```console, ```sh, ```shell) is hands-on: each line is a command, a line ending
  in `\\` goes on with the next, and a trailing `# comment` says what the command promises. Other blocks
  (python, json, yaml, mermaid, plain ```) are never run.
- One document's commands run in the order given, in one fresh copy of the repository
  (tests.conftest.repository_copy: the committed starters, this checkout's .venv through a symlink), as one
  shell session: `export`, `unset` and `cd` carry over to the commands after them. Questions are answered "y".
- In a stage's lesson the stage's TODOs are done first (exercises/<stage> holds the reference solution):
  a lesson's commands try the student's finished work. README.md runs on the untouched starters.
- A server (`make serve`, `make target`, `make watch`) runs in the background, as in a second terminal: its step passes once
  it answers on its port (or shows its first verdict); a later server on the same port replaces it (the student
  stops the first with Ctrl+C); every server stops when the document ends.
- What a comment promises is checked: an HTTP status (`# 401`) is the answer's status; "quoted text" is
  printed (a trailing ... means "begins with"); a URL is printed.
- A command exits 0 unless EXPECTED says otherwise (`make grade` on a starter exits 1, as README says).
- `[OPTIONAL]` parts of a synopsis are left out; `<placeholders>` and `mcpk_...` are filled in from what an
  earlier step printed or wrote (PLACEHOLDERS).
- NOT_RUN names each command the test does not run, and why (shown as skipped, with the reason); KNOWN_BUGS
  the ones that fail because of a bug owned elsewhere (strict xfail: fixing the bug makes this test say so).

A new command in a document is covered without a new test. `pytest tests/test_documents.py -rA` lists every
command with its outcome; each test prints where it ran, the exit status and the end of the output.
"""

from __future__ import annotations

import ctypes
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from grader.stages import ROOT, SOLUTIONS, load_stages, stage_by_id
from tests.conftest import repository_copy

DOCUMENTS = ["README.md", "lessons/README.md", *sorted(str(path.relative_to(ROOT))
                                                       for path in (ROOT / "lessons").glob("*/README.md"))]
SHELL_BLOCKS = {"bash", "console", "sh", "shell"}
# Deadlines, not goals: `make grade` of every stage takes a minute on a quiet 2-core machine.
COMMAND_DEADLINE = 420
SERVER_DEADLINE = 120

# (document, command as written) -> why it is not run. Each must still be in its document.
NOT_RUN = {
    ("README.md", "make test"): "this suite itself",
    ("README.md", "make inspect STAGE=01"): "the Inspector's web UI, for a browser (installs from npm on first "
                                            "use); its CLI mode runs in lessons/hosts",
    ("README.md", "make grade-class SUBMISSIONS=submissions/ [OUT=results/] [JOBS=4] [STAGES=01,03] "
                  "[TIME_LIMIT=300] [LMS_IDS=ids.csv]"): "a synopsis for a folder of submissions; tests/test_classroom.py "
                                       "grades a class",
    ("README.md", 'MCP_HEADERS="{\\"X-API-Key\\": \\"$API_KEY\\"}" NODE_OPTIONS="--import ./with_headers.mjs" '
                  "npx -y @modelcontextprotocol/conformance@0.1.16 server --url http://127.0.0.1:5000/mcp "
                  "--scenario server-initialize"): "needs Node.js 22 (as the text says) and a download; "
                                                    "tests/test_interop.py runs the pinned suite",
    ("lessons/04-pure-asgi/README.md", "make bench"): "minutes of load on a quiet machine; tests/test_bench.py "
                                                      "runs its quick mode",
    ("lessons/04-pure-asgi/README.md", ".venv/bin/python -m bench --only guards"): "a minute or two of "
                                                                                         "load; tests/test_bench.py",
    ("lessons/05-key-management/README.md", ".venv/bin/python -m bench --only guards"): "as in lesson 04",
    ("lessons/06-bearer-tokens/README.md", ".venv/bin/python -m bench --only guards"): "as in lesson 04",
    ("lessons/hosts/README.md", "make inspect STAGE=01"): "the Inspector's web UI, for a browser",
    ("lessons/hosts/README.md", "make inspect STAGE=01 WORKDIR=exercises"): "the Inspector's web UI, for a browser",
    ("lessons/hosts/README.md", "cursor ."): "starts the Cursor editor",
    ("lessons/dashboard/README.md", "make dashboard HOST=0.0.0.0"): "a server for a browser, on the LAN; "
                                                                      "tests/test_dashboard_browser.py runs it",
    ("lessons/dashboard/README.md", "CLASS_URL=http://192.168.1.20:8765 CLASS_KEY=dsk_... make watch"):
        "needs the instructor's dashboard on the LAN; tests/test_dashboard.py sends a summary as the loop does",
}

# (document, ## section) -> why none of its commands is run here (each is shown as skipped, with the reason).
NOT_RUN_SECTIONS = {
    ("lessons/05-key-management/README.md", "Attacks to try"):
        "attacks against a server and keys ($A, $B, $C) the reader set up by hand; tests/test_key_attacks.py sends "
        "each of them to the reference server",
    ("lessons/06-bearer-tokens/README.md", "A real identity provider, by configuration alone"):
        "the key-compromise drill, across three terminals (a JWKS served by hand, a server, a client); "
        "tests/test_stage06_attacks.py withdraws a key from a loopback JWKS and sees it refused",
    ("lessons/06-bearer-tokens/README.md", "Attack the reference yourself"):
        "attacks the reader runs against a server started by hand; tests/test_stage06_attacks.py sends each of them "
        "to the reference server",
}


def not_run(step: "Step") -> str | None:
    return NOT_RUN.get((step.document, step.command)) or NOT_RUN_SECTIONS.get((step.document, step.section))


# (document, command as written) -> the bug that makes it fail today, owned by another change (issue 23).
KNOWN_BUGS: dict[tuple[str, str], str] = {}


FAILS = -1  # any status but 0 (make turns a command's 1 into its own 2)


@dataclass
class Expect:
    status: int = 0  # FAILS: not 0
    prints: tuple[str, ...] = ()


# (document, command as written) -> what the text says it does, where that is not "exits 0".
EXPECTED = {
    ("README.md", "make grade"): Expect(FAILS, ("01-middleware", "✘")),  # starters: "0 only when every check passes"
    ("README.md", "make solution STAGE=01"): Expect(FAILS, ("Not yet",)),  # "once the stage passes"
    ("README.md", "make hint STAGE=01"): Expect(0, ("hint",)),
    ("lessons/01-middleware/README.md", "make agent STAGE=01"): Expect(FAILS, ("refused the connection: 401 "
                                                                           "Unauthorized",)),  # "it says so"
    ("lessons/06-bearer-tokens/README.md", "make token"): Expect(0, ("eyJ",)),
}

# A placeholder -> how to fill it in from the session (its environment and the output so far).
PLACEHOLDERS = {
    "<the key>": lambda session: session.dotenv("API_KEY"),
    "mcpk_...": lambda session: session.printed(r"mcpk_[A-Za-z0-9_\-]+"),
}

# What runs in the background, and how to tell it is up: the stage's port, or a line it prints.
SERVERS = [
    (re.compile(r"^make serve\b"), "port"),
    (re.compile(r"^make target\b"), "port"),  # stage 07's vulnerable server, on stage 07's port
    (re.compile(r"^make watch\b"), "not yet ("),
]


@dataclass
class Step:
    document: str
    index: int
    command: str  # as written (continuations joined)
    promise: str  # the trailing comment
    section: str = ""  # the ## heading it stands under

    @property
    def id(self) -> str:
        shown = self.command.replace("\n", "; ")
        return f"{self.document.removesuffix('/README.md').removesuffix('.md')}:{self.index:02}: {shown}"


def strip_comment(line: str) -> tuple[str, str]:
    """The command and its trailing comment (a # outside quotes, after a space)."""
    quote = None
    for position, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (position == 0 or line[position - 1] in " \t"):
            return line[:position].rstrip(), line[position + 1:].strip()
    return line.rstrip(), ""


def commands(document: str) -> list[Step]:
    steps, block, pending, held = [], None, "", ""
    section = ""
    for line in (ROOT / document).read_text().splitlines():
        if block is None and line.startswith("## "):
            section = line[3:].strip()
        fence = re.match(r"^\s*```(\S*)", line)
        if fence:
            block = None if block is not None else fence.group(1)
            continue
        if block not in SHELL_BLOCKS or not line.strip():
            continue
        text = pending + line.strip()
        if text.endswith("\\"):
            pending = text[:-1].rstrip() + " "
            continue
        pending = ""
        command, promise = strip_comment(text)
        if not command:
            continue
        whole = f"{held}\n{command}" if held else command
        if not complete(whole):  # a for/while/if block, or an open quote, goes on on the next line
            held = whole
            continue
        held = ""
        steps.append(Step(document, len(steps), whole, promise, section))
    return steps


def complete(command: str) -> bool:
    """Whether bash reads COMMAND as a whole command (a real syntax error shows when it runs)."""
    read = subprocess.run(["bash", "-n", "-c", command], capture_output=True, text=True)
    return read.returncode == 0 or "unexpected end of file" not in read.stderr


STEPS = [step for document in DOCUMENTS for step in commands(document)]


def marked(step: Step):
    key = (step.document, step.command)
    if not_run(step):
        return pytest.param(step, id=step.id, marks=pytest.mark.skip(reason=f"not run: `{step.command}`: {not_run(step)}"))
    if key in KNOWN_BUGS:
        return pytest.param(step, id=step.id, marks=pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[key]))
    return pytest.param(step, id=step.id)


def lesson_stage(document: str):
    folder = Path(document).parent.name
    return next((stage for stage in load_stages() if stage.id == folder), None)


CLONE_NEWNET = 0x40000000
HOLD = ("from classroom.sandbox import _loopback_up; _loopback_up(); print('ready', flush=True); "
        "import sys; sys.stdin.read()")


class PrivateNetwork:
    """A network namespace of the document's own with loopback up: the lessons' fixed ports (3000, 5000) are
    its own, so the grader's runs in other tests, other documents and other users of the machine can listen
    there meanwhile. Needs root and util-linux (unshare, nsenter); without them, None: the shared network."""

    def __init__(self, holder: subprocess.Popen) -> None:
        self.holder = holder
        self.path = f"/proc/{holder.pid}/ns/net"

    @classmethod
    def open(cls) -> "PrivateNetwork | None":
        try:
            holder = subprocess.Popen(["unshare", "--net", "--", sys.executable, "-c", HOLD], cwd=ROOT,
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                      text=True)
        except OSError:
            return None
        if holder.stdout.readline().strip() != "ready":
            holder.wait()
            return None
        return cls(holder)

    def enter(self) -> list[str]:
        return ["nsenter", f"--net={self.path}", "--"]

    def socket(self) -> socket.socket:
        """A socket made inside the namespace (setns changes only this thread, and only for a moment)."""
        libc = ctypes.CDLL(None, use_errno=True)
        with open(self.path) as theirs, open("/proc/thread-self/ns/net") as ours:
            if libc.setns(theirs.fileno(), CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns")
            try:
                return socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            finally:
                libc.setns(ours.fileno(), CLONE_NEWNET)

    def close(self) -> None:
        self.holder.stdin.close()
        self.holder.wait(timeout=30)


def answers(port: int, network: PrivateNetwork | None) -> bool:
    try:
        sock = network.socket() if network else socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    except OSError:
        return False
    with sock:
        sock.settimeout(0.3)
        try:
            sock.connect(("127.0.0.1", port))
            return True
        except OSError:
            return False


def student_environment(copy: Path) -> dict[str, str]:
    """A student's shell: no .venv on PATH, none of the secrets this run may hold, plain output."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("PYTEST", "GRADER_", "WORKSHOP_", "MAKE", "MFLAGS"))
           and name not in {"API_KEY", "ACCESS_TOKEN", "KEY_PEPPER", "OPENAI_API_KEY", "VIRTUAL_ENV", "PYTHONPATH",
                            "PYTHONHOME", "MAKELEVEL"}}
    env["PATH"] = os.pathsep.join(part for part in env.get("PATH", "").split(os.pathsep)
                                  if not part.rstrip("/").endswith((".venv/bin", ".venv/Scripts")))
    # The copy's .venv is this checkout's (a symlink) and its .pth names this checkout: the copy's own
    # code comes first, as it would in a checkout of its own.
    env.update(NO_COLOR="1", PYTHONPATH=str(copy), OPENAI_AGENTS_DISABLE_TRACING="1")
    return env


@dataclass
class Outcome:
    status: int | None
    output: str
    cwd: str
    server: bool = False


@dataclass
class Server:
    process: subprocess.Popen
    log: Path
    port: int | None
    ready: str

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGINT)  # Ctrl+C, as the student stops it
                self.process.wait(timeout=15)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.process.wait()
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # whatever it left in its group
        except ProcessLookupError:
            pass


@dataclass
class Session:
    """One document's shell session in its own fresh copy."""

    document: str
    copy: Path
    env: dict[str, str]
    cwd: Path
    network: PrivateNetwork | None
    outcomes: dict[int, Outcome] = field(default_factory=dict)
    servers: list[Server] = field(default_factory=list)

    @classmethod
    def start(cls, document: str, scratch: Path) -> "Session":
        copy = repository_copy(scratch / "checkout")
        stage = lesson_stage(document)
        if stage is not None:  # the lesson's TODOs are done: its commands try the finished work
            for name in stage.files:
                (copy / "exercises" / stage.id / name).write_bytes((SOLUTIONS / stage.id / name).read_bytes())
        return cls(document, copy, student_environment(copy), copy, PrivateNetwork.open())

    # -- what earlier steps left ------------------------------------------------------------
    def dotenv(self, name: str) -> str:
        for line in (self.copy / ".env").read_text().splitlines():
            if line.startswith(f"{name}="):
                return line.split("=", 1)[1].strip()
        raise AssertionError(f"no {name} in {self.copy / '.env'}")

    def printed(self, pattern: str) -> str:
        for outcome in reversed(list(self.outcomes.values())):
            found = re.findall(pattern, outcome.output)
            if found:
                return found[-1]
        raise AssertionError(f"no earlier step printed {pattern!r}")

    def typed(self, command: str) -> str:
        """The command as the student types it: optional parts left out, placeholders filled in."""
        command = re.sub(r"\s*\[[A-Z_]+=[^\]]*\]", "", command)
        for placeholder, fill in PLACEHOLDERS.items():
            if placeholder in command:
                command = command.replace(placeholder, shlex.quote(fill(self)))
        unknown = re.findall(r"<[a-z][a-z ]*>", command)
        assert not unknown, f"a placeholder PLACEHOLDERS does not know: {unknown}"
        return command

    # -- running ----------------------------------------------------------------------------
    def run(self, step: Step) -> Outcome:
        command = self.typed(step.command)
        kind = next((ready for pattern, ready in SERVERS if pattern.search(command)), None)
        outcome = self.background(command, kind) if kind else self.foreground(command)
        self.outcomes[step.index] = outcome
        return outcome

    def foreground(self, command: str) -> Outcome:
        with tempfile.TemporaryDirectory(prefix="doc-step-") as scratch:
            where, env_file = Path(scratch) / "cwd", Path(scratch) / "env"
            script = f'cd "$1" || exit 97\n{command}\nstatus=$?\npwd > "$2"; env -0 > "$3"\nexit $status\n'
            done = subprocess.run([*self.enter(), "bash", "-c", script, "bash", str(self.cwd), str(where), str(env_file)],
                                  input="y\n", capture_output=True, text=True, env=self.env,
                                  timeout=COMMAND_DEADLINE, start_new_session=True)
            if where.exists():
                self.cwd = Path(where.read_text().strip())
                self.env = dict(entry.split("=", 1) for entry in env_file.read_text().split("\0") if "=" in entry)
        return Outcome(done.returncode, done.stdout + done.stderr, str(self.cwd))

    def background(self, command: str, ready: str) -> Outcome:
        port = None
        if ready == "port":
            number = re.search(r"STAGE=(\d+)", command)
            stage = number.group(1) if number else "07" if command.startswith("make target") else "01"
            port = stage_by_id(stage).port
            for server in [server for server in self.servers if server.port == port]:
                server.stop()  # Ctrl+C in the first terminal before starting the other server there
                self.servers.remove(server)
            end = time.monotonic() + 60
            while answers(port, self.network) and time.monotonic() < end:
                time.sleep(0.5)
            assert not answers(port, self.network), f"port {port} is taken by a process this test did not start"
        else:  # a second watcher would grade beside the first: the student has one
            for server in [server for server in self.servers if server.ready == ready]:
                server.stop()
                self.servers.remove(server)
        # Beside the copy, not in /tmp: a server stopped and dropped above takes no log with it.
        log = Path(tempfile.mkstemp(prefix="doc-server-", suffix=".log", dir=self.copy.parent)[1])
        with log.open("w") as out:
            process = subprocess.Popen([*self.enter(), "bash", "-c", f'cd "$1" && exec {command}', "bash",
                                        str(self.cwd)],
                                       stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT, env=self.env,
                                       start_new_session=True)
        server = Server(process, log, port, ready)
        self.servers.append(server)
        end = time.monotonic() + SERVER_DEADLINE
        while time.monotonic() < end and process.poll() is None:
            if port and answers(port, self.network):
                return Outcome(None, log.read_text(errors="replace"), str(self.cwd), server=True)
            if not port and ready in log.read_text(errors="replace"):
                server.stop()  # it showed what the text promises: a watcher would go on grading every save
                return Outcome(None, log.read_text(errors="replace"), str(self.cwd), server=True)
            time.sleep(0.3)
        status = process.poll()
        text = log.read_text(errors="replace")
        raise AssertionError(f"`{command}` {'exited with ' + str(status) if status is not None else 'never got ready'}"
                             f" ({'port ' + str(port) if port else repr(ready)}):\n{text[-4000:]}")

    def enter(self) -> list[str]:
        return self.network.enter() if self.network else []

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
            server.log.unlink(missing_ok=True)
        self.servers.clear()
        if self.network:
            self.network.close()
            self.network = None


@pytest.fixture(scope="module")
def sessions(tmp_path_factory):
    opened: dict[str, Session] = {}
    yield opened, tmp_path_factory
    for session in opened.values():
        session.stop()


def session_for(sessions, step: Step) -> Session:
    """The document's session, with every step before this one run (the lesson's ports free of the others)."""
    opened, factory = sessions
    if step.document not in opened:
        for other in opened.values():
            other.stop()
        opened[step.document] = Session.start(step.document, factory.mktemp("doc"))
    session = opened[step.document]
    for earlier in STEPS:
        if earlier.document == step.document and earlier.index < step.index and earlier.index not in session.outcomes:
            if not_run(earlier):
                continue
            try:
                session.run(earlier)
            except AssertionError as error:
                session.outcomes[earlier.index] = Outcome(None, str(error), str(session.cwd))
    return session


def promises(step: Step) -> Expect:
    key = (step.document, step.command)
    expect = EXPECTED.get(key, Expect())
    # Quoted words are the answer's body where the comment names an HTTP status ("# 401, "Invalid API key."").
    said = re.findall(r'"([^"]+)"', step.promise) if re.search(r"\b[1-5]\d\d\b", step.promise) else []
    urls = re.findall(r"https?://\S+", step.promise)
    prints = list(expect.prints) + [text.rstrip(".…") if text.endswith(("...", "…")) else text for text in said]
    return Expect(expect.status, tuple(prints + urls))


def check(step: Step, sessions) -> None:
    session = session_for(sessions, step)
    outcome = session.run(step)
    print(f"{step.document}: `{step.command}`\n  in {outcome.cwd}, "
          f"{'running in the background' if outcome.server else f'exit status {outcome.status}'}"
          f"{'' if session.network else ' (on the shared network: no namespace of its own here)'}\n"
          + "\n".join("  | " + line for line in outcome.output.rstrip().splitlines()[-25:]))
    expect = promises(step)
    if not outcome.server and expect.status == FAILS:
        assert outcome.status not in (0, None), f"exit status {outcome.status}, the text says it fails:\n" \
                                                f"{outcome.output[-4000:]}"
    elif not outcome.server:
        assert outcome.status == expect.status, f"exit status {outcome.status}, the text says {expect.status}:\n" \
                                                f"{outcome.output[-4000:]}"
    statuses = re.findall(r"\b([1-5]\d\d)\b", step.promise)
    if step.command.startswith("curl") and statuses:
        got = re.findall(r"^HTTP/[\d.]+ (\d{3})", outcome.output, re.M)
        assert got and got[-1] == statuses[0], f"the text says {statuses[0]}, the answer was {got}:\n{outcome.output}"
    for text in expect.prints:
        assert text in outcome.output, f"the text promises {text!r}; the command printed:\n{outcome.output[-4000:]}"


def document_class(document: str) -> type:
    """One class per document, one xdist group per class: a worker runs a document's commands in order."""

    @pytest.mark.xdist_group(f"document-{document}")
    @pytest.mark.parametrize("step", [marked(step) for step in STEPS if step.document == document])
    def test_the_command_works_as_the_document_says(self, step, sessions):
        check(step, sessions)

    name = "TestDocument_" + re.sub(r"\W+", "_", document.removesuffix(".md"))
    return type(name, (), {"__doc__": f"The commands of {document}, in order.",
                           "test_the_command_works_as_the_document_says": test_the_command_works_as_the_document_says})


for _document in DOCUMENTS:
    if any(step.document == _document for step in STEPS):
        _class = document_class(_document)
        globals()[_class.__name__] = _class


def test_every_document_is_read_and_every_exception_still_names_a_command_in_it():
    found = {(step.document, step.command) for step in STEPS}
    sections = {(step.document, step.section) for step in STEPS}
    assert set(NOT_RUN_SECTIONS) <= sections, f"no longer in the documents: {set(NOT_RUN_SECTIONS) - sections}"
    for table in (NOT_RUN, KNOWN_BUGS, EXPECTED):
        assert set(table) <= found, f"no longer in the documents: {set(table) - found}"
    assert all((ROOT / document).is_file() for document in DOCUMENTS)
    assert {"README.md", "lessons/README.md", "lessons/01-middleware/README.md"} <= set(DOCUMENTS)
    counts = {document: sum(step.document == document for step in STEPS) for document in DOCUMENTS}
    print("\n".join(f"{count:3} commands  {document}" for document, count in counts.items()))
    assert counts["README.md"] >= 10 and len(STEPS) >= 50, counts


def test_every_make_target_and_python_module_a_document_names_in_passing_exists():
    """The commands named inside sentences and tables (`make token`, `python -m bench`): not run one by
    one, but each names a target the Makefile has and a module that is there (in the repository or, like
    `python -m keys`, in a stage folder)."""
    import importlib.util

    targets = set(re.findall(r"^([a-z][a-z-]*):", (ROOT / "Makefile").read_text(), re.M))
    stage_modules = {path.stem for path in SOLUTIONS.glob("*/*.py")}
    missing = []
    for document in DOCUMENTS:
        text = (ROOT / document).read_text()
        for target in re.findall(r"`make ([a-z][a-z-]*)", text):
            if target not in targets:
                missing.append(f"{document}: make {target}")
        for module in re.findall(r"`(?:\.venv/bin/)?python3? -m ([A-Za-z_][\w.]*)", text):
            if module not in stage_modules and importlib.util.find_spec(module) is None:
                missing.append(f"{document}: python -m {module}")
    assert missing == [], missing
