"""Helpers for the instructor notebooks: start a stage's server, send requests, show answers.

They reuse the grader's own harness, so a notebook starts servers exactly as
the grader does: uvicorn in its own process group, on a free loopback port,
waited on until it answers, and stopped for good at the end (or at exit).

Nothing here prints a key: every key made by new_key() or handed to serve() in
API_KEY is shown as <the key> in whatever these helpers print.
"""

from __future__ import annotations

import atexit
import re
import secrets
import shutil
import tempfile
from pathlib import Path

from grader.harness import Server, ServerDidNotStart, run_python
from grader.probes import Answer, Probe, send, tail
from grader.stages import ROOT, stage_by_id

STARTED: list[Server] = []
VARIANTS: list[Path] = []  # the temporary folders variant() made: removed by stop_all(), or at exit
SECRETS: set[str] = set()
HIDDEN = "<the key>"


def new_key() -> str:
    """A fresh random key for this notebook; the helpers never print it."""
    key = secrets.token_urlsafe(32)
    SECRETS.add(key)
    return key


def hide(text: str) -> str:
    """TEXT with every key these helpers know of replaced by <the key>, and long pieces of one
    (a near miss such as the key less its last character) by <part of the key>."""
    for key in sorted(SECRETS, key=len, reverse=True):
        text = text.replace(key, HIDDEN)

    def piece(match: re.Match) -> str:
        word = match.group(0)
        return "<part of the key>" if any(word in key for key in SECRETS) else word

    return re.sub(r"[A-Za-z0-9_\-]{12,}", piece, text)


def serve(stage: str, *, workdir: str | Path = "solutions", folder: Path | None = None,
          env: dict[str, str] | None = None, root_path: str | None = None) -> Server:
    """Start a stage's server (the reference solution unless told otherwise) and wait until it answers."""
    info = stage_by_id(stage)
    folder = folder or ROOT / workdir / info.id
    if env and len(env.get("API_KEY", "").strip()) >= 8:
        SECRETS.add(env["API_KEY"])  # a real key: keep it off the screen (a published default is shown)
    server = Server(folder, info.app, env=env, root_path=root_path, label="notebook")
    STARTED.append(server)
    try:
        server.wait_ready()
    except ServerDidNotStart as error:
        print(hide(f"The server did not start: {error}\n{tail(server.log())}"))
        return server
    shown = folder.relative_to(ROOT) if folder.is_relative_to(ROOT) else folder.name
    print(f"{shown} is serving on {server.base_url}" + (f" (root path {root_path})" if root_path else ""))
    return server


def variant(stage: str, file: str, replacements: dict[str, str]) -> Path:
    """A throw-away copy of a stage's solution with some text in FILE replaced: a deliberately broken version.

    Built from solutions/, never from exercises/ (an instructor may have solved those).
    """
    info = stage_by_id(stage)
    root = Path(tempfile.mkdtemp(prefix="workshop-variant-"))
    VARIANTS.append(root)
    folder = root / info.id
    shutil.copytree(ROOT / "solutions" / info.id, folder, ignore=shutil.ignore_patterns("__pycache__"))
    target = folder / file
    text = target.read_text()
    for old, new in replacements.items():
        if old not in text:
            raise ValueError(f"{file} has no {old!r}")
        text = text.replace(old, new)
    target.write_text(text)
    return folder


def request(server: Server, method: str, path: str, *, headers: dict[str, str | bytes] | list | None = None,
            json: dict | None = None, note: str | None = None) -> Answer:
    """Send one request and print what came back on one line.

    NOTE says in words what the request carries; pass one whenever a header holds a
    secret (a token), or the secret is printed.
    """
    pairs = tuple(headers.items()) if isinstance(headers, dict) else tuple(headers or ())
    probe = Probe(method, path, pairs, json, note=note or ", ".join(f"{k}: {v!r}" for k, v in pairs) or "no key")
    answer = send(server, probe)
    print(hide(f"{probe.describe()}\n  -> {answer.describe()}"))
    return answer


def run_client(stage: str, server: Server, *, path: str | None = None, env: dict[str, str] | None = None,
               workdir: str = "solutions", script: str | None = None) -> str:
    """Run the stage's agent or client script (or another SCRIPT of the stage, an exploit) against SERVER
    and print its output."""
    info = stage_by_id(stage)
    url = server.base_url + (path or info.endpoint)
    script = script or info.client
    finished = run_python(ROOT / workdir / info.id, [script], env={"MCP_SERVER_URL": url, **(env or {})},
                          timeout=90, label="notebook-client")
    print(f"$ MCP_SERVER_URL={url} python {script}    (exit status {finished.returncode})")
    print(hide(finished.output.strip()))
    return finished.output


# A stage 05 key (mcpk_<id>_<secret><checksum>): shown with its id only, never with its secret.
_KEY = re.compile(r"\b([a-z]+_[0-9A-Za-z]+_)[0-9A-Za-z]{20,}\b")


def hide_keys(text: str) -> str:
    return _KEY.sub(lambda match: match[1] + "<secret hidden>", text)


def keys_cli(stage: str, env: dict[str, str], *args: str, workdir: str = "solutions") -> str:
    """Run the stage's `python -m keys ARGS` with ENV; print its output with every secret hidden.

    Returns the output as it came (an issued key included): keep it in a variable, do not display it.
    """
    info = stage_by_id(stage)
    finished = run_python(ROOT / workdir / info.id, ["-m", "keys", *args], env=env, timeout=60, label="notebook-keys")
    print(f"$ python -m keys {' '.join(args)}    (exit status {finished.returncode})")
    print(hide_keys(finished.output.strip()))
    return finished.output


def find_key(output: str) -> str:
    """The key a `keys issue` or `keys rotate` printed ('' when there is none)."""
    found = _KEY.search(output)
    return found[0] if found else ""


def issue_key(stage: str, env: dict[str, str], client: str, tools: str, *extra: str) -> str:
    """Issue a key with the stage's CLI and return it; what is printed hides the secret."""
    return find_key(keys_cli(stage, env, "issue", "--client", client, "--tools", tools, *extra))


def log_lines(server: Server, containing: str) -> list[str]:
    """The lines of the server's output that contain a string (keys shown as <the key>)."""
    return [hide(line) for line in server.log().splitlines() if containing in line]


def remove_variants() -> None:
    """Delete the throw-away copies variant() made (their servers must be stopped first)."""
    while VARIANTS:
        shutil.rmtree(VARIANTS.pop(), ignore_errors=True)


# A kernel that is shut down (or a script that ends) before stop_all() leaves no copy behind either.
atexit.register(remove_variants)


def stop_all() -> None:
    """Stop every server this kernel started, and remove the throw-away copies of the solutions."""
    while STARTED:
        STARTED.pop().stop()
    remove_variants()
    print("all servers stopped")
