"""Point the MCP Inspector at a stage's server, with the key in its header.

    python -m course.inspector 01                 the Inspector's web UI (what `make inspect STAGE=01` runs)
    python -m course.inspector 04 --cli           its CLI mode: list the tools, call one, then try without the key
    python -m course.inspector 01 --workdir exercises    your server instead of the solution

The server runs on the lesson's port. If something already answers there (your
`make serve` in another terminal) the Inspector uses it; otherwise this starts
the stage's server and stops it at the end, also when this process is told to
stop (Ctrl+C, SIGTERM, a closed terminal) or killed outright.

The credential depends on the stage. Stages 01-04: API_KEY from your
environment, as for `make serve`; nothing here invents one. Stage 05: a server
started here gets a throw-away key store with one key issued into it by the
stage's own `python -m keys`; a server already running takes an issued key
from API_KEY. Stage 06: ACCESS_TOKEN from your environment, or a token minted
by the stage's `python -m tokens mint` (the local issuer the server trusts),
sent as `Authorization: Bearer`.

The CLI comes from interop/node_modules (`make setup`); the web UI from
interop/inspector/node_modules, installed here on first use (npm, once).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from grader.harness import uvicorn_command
from grader.stages import ROOT, stage_by_id
from course import interop

UI = interop.INTEROP / "inspector"
UI_CLI = UI / "node_modules" / "@modelcontextprotocol" / "inspector" / "cli" / "build" / "cli.js"

# A tool worth calling on each stage's server, with its arguments.
DEMO_CALLS = {"get_items": {}, "get_alerts": {"state": "CA"}}


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.3):
            return True
    except OSError:
        return False


@dataclass
class Credential:
    """The header the Inspector sends, how the shown command spells its value, what the server starts with."""

    header: str
    value: str
    shown: str  # the value as the printed command writes it: "$API_KEY", "Bearer $ACCESS_TOKEN"
    server_env: dict[str, str] = field(default_factory=dict)


def api_key_from_env() -> str:
    key = os.environ.get("API_KEY", "").strip()
    if not key:
        sys.exit("API_KEY is not set. Choose a key once and use it in every terminal (server, Inspector, hosts):\n"
                 "  export API_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')")
    return key


def credential_for(stage, folder: Path, url: str, running: bool, scratch: Path) -> Credential:
    if stage.id == "05-key-management":
        if running:  # someone else's server and key store: only an issued key of theirs gets in
            return Credential("X-API-Key", api_key_from_env(), "$API_KEY")
        from course.demo import find_key, keys_cli
        from grader.stage_env import RunValues, prepare_key_store

        env = prepare_key_store(folder, scratch, RunValues("inspector-pepper-" + os.urandom(16).hex()))
        key = find_key(keys_cli(stage.id, env, "issue", "--client", "inspector", "--tools", "*",
                                workdir=str(folder.parent)))
        if not key:
            sys.exit(f"`python -m keys issue` in {folder} issued no key (its output is above).")
        return Credential("X-API-Key", key, "$API_KEY", env)
    if stage.id == "06-bearer-tokens":
        token = os.environ.get("ACCESS_TOKEN", "").strip()
        if not token:
            minted = subprocess.run([sys.executable, "-m", "tokens", "mint", "--sub", "inspector", "--aud", url],
                                    cwd=folder, capture_output=True, text=True, timeout=60)
            token = minted.stdout.strip()
            if minted.returncode != 0 or not token:
                sys.exit(f"`python -m tokens mint` in {folder} failed:\n{minted.stderr}")
            print(f"A token for {url} from the local issuer (python -m tokens mint --sub inspector --aud {url}).")
        return Credential("Authorization", f"Bearer {token}", "Bearer $ACCESS_TOKEN")
    key = api_key_from_env()
    return Credential("X-API-Key", key, "$API_KEY", {"API_KEY": key})


def _die_with_parent() -> None:
    """In the server's process, before it runs: on Linux, get SIGTERM when the process that started it dies,
    even by SIGKILL, so no lesson server outlives its Inspector."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def start_server(stage, folder: Path, env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    command = uvicorn_command(stage.app, port)  # no X-Forwarded-For believed, as under make serve
    with log.open("wb") as out:  # its access log shows each request and its status
        server = subprocess.Popen(command, cwd=folder, env={**os.environ, **env}, stdout=out,
                                  stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent)
    deadline = time.monotonic() + 30
    while not answers(port):
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            sys.exit(f"The stage-{stage.number} server in {folder} did not start:\n{log.read_text(errors='replace')}")
        time.sleep(0.1)
    return server


def run_cli(url: str, transport: str, credential: Credential) -> int:
    reason = interop.not_ready()
    if reason:
        print(reason, file=sys.stderr)
        return 1
    headers = {credential.header: credential.value}
    shown = f'node index.js {url} --transport {transport} --header "{credential.header}: {credential.shown}"'
    print(f"\nThe Inspector CLI (run from {interop.INSPECTOR_CLI.relative_to(ROOT)}):\n  {shown} --method tools/list")
    listed = interop.inspector_cli(url, transport, headers)
    if not listed.connected:
        print(listed.output, file=sys.stderr)
        return 1
    print("  tools:", ", ".join(listed.tools))
    name = next((tool for tool in listed.tools if tool in DEMO_CALLS), None)
    if name:
        arguments = DEMO_CALLS[name]
        print(f"  {shown} --method tools/call --tool-name {name}"
              + "".join(f" --tool-arg {arg}={value}" for arg, value in arguments.items()))
        called = interop.inspector_cli(url, transport, headers, call=name, arguments=arguments)
        print("  " + (called.called or called.output).strip().replace("\n", "\n  ")[:800])
    refused = interop.inspector_cli(url, transport, {})
    print(f"\nWithout the {'token' if credential.header == 'Authorization' else 'key'}:\n"
          f"  {shown.split(' --header')[0]} --method tools/list\n  "
          + ("REFUSED: " + refused.error if not refused.connected else f"LET IN (tools: {refused.tools}): the server is open!"))
    return 0 if not refused.connected else 1


def run_ui(url: str, transport: str, credential: Credential) -> int:
    if interop.node() is None:
        print(interop.not_ready(), file=sys.stderr)
        return 1
    if not UI_CLI.is_file():
        npm = shutil.which("npm")
        print("Installing the MCP Inspector (once) into interop/inspector/node_modules ...", flush=True)
        if npm is None or subprocess.call([npm, "ci", "--omit=dev", "--no-audit", "--no-fund", "--loglevel=error"],
                                          cwd=UI) != 0:
            print("Could not install the Inspector: it needs the npm registry once.", file=sys.stderr)
            return 1
    print(f"\nIn the Inspector's page: Transport Type {'SSE' if transport == 'sse' else 'Streamable HTTP'}, URL {url};\n"
          f"open Authentication, add the header {credential.header} with the value {credential.shown}, and press Connect.\n"
          "Without the header, Connect fails with 401. Ctrl+C stops the Inspector.\n", flush=True)
    inspector = [interop.node(), str(UI_CLI), "--transport", transport, "--server-url", url]
    try:
        return subprocess.call(inspector, cwd=UI)
    except KeyboardInterrupt:
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course.inspector", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage", help="stage id or number, e.g. 01")
    parser.add_argument("--workdir", default="solutions", help="solutions (default) or exercises")
    parser.add_argument("--cli", action="store_true", help="the Inspector's CLI mode instead of its web UI")
    parser.add_argument("--port", type=int, help="another port than the lesson's")
    options = parser.parse_args(argv)
    stage = stage_by_id(options.stage)
    folder = Path(options.workdir) if Path(options.workdir).is_absolute() else ROOT / options.workdir
    folder = folder / stage.id
    port = options.port or stage.port
    url = f"http://127.0.0.1:{port}{stage.endpoint}"
    transport = "sse" if stage.endpoint.endswith("/sse") else "http"
    # A polite stop (SIGTERM, or SIGHUP when the terminal closes) unwinds like Ctrl+C, through the finally below.
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), lambda number, frame: sys.exit(128 + number))
    server = None
    with tempfile.TemporaryDirectory(prefix="workshop-inspect-") as scratch:
        running = answers(port)
        credential = credential_for(stage, folder, url, running, Path(scratch))
        if running:
            print(f"Something already answers on port {port}: inspecting it (it must accept this credential).")
        else:
            log = Path(tempfile.gettempdir()) / f"workshop-inspect-{stage.number}.log"
            where = folder.relative_to(ROOT) if folder.is_relative_to(ROOT) else folder
            print(f"Starting {where} on {url} (server log: {log}) ...", flush=True)
            server = start_server(stage, folder, credential.server_env, port, log)
        try:
            return run_cli(url, transport, credential) if options.cli else run_ui(url, transport, credential)
        finally:
            if server is not None:
                server.terminate()
                try:
                    server.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    server.kill()


if __name__ == "__main__":
    sys.exit(main())
