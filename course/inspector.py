"""Point the MCP Inspector at a stage's server, with the key in its header.

    python -m course.inspector 01                 the Inspector's web UI (what `make inspect STAGE=01` runs)
    python -m course.inspector 04 --cli           its CLI mode: list the tools, call one, then try without the key
    python -m course.inspector 01 --workdir exercises    your server instead of the solution

The server runs on the lesson's port. If something already answers there (your
`make serve` in another terminal) the Inspector uses it; otherwise this starts
the stage's server and stops it at the end. The key is API_KEY from your
environment, as for `make serve`: nothing here invents one.

The CLI comes from interop/node_modules (`make setup`); the web UI from
interop/inspector/node_modules, installed here on first use (npm, once).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from grader.stages import ROOT, stage_by_id
from course import interop

UI = interop.INTEROP / "inspector"
UI_CLI = UI / "node_modules" / "@modelcontextprotocol" / "inspector" / "cli" / "build" / "cli.js"
HEADER = "X-API-Key"

# A tool worth calling on each stage's server, with its arguments.
DEMO_CALLS = {"get_items": {}, "get_alerts": {"state": "CA"}}


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.3):
            return True
    except OSError:
        return False


def start_server(stage, folder: Path, key: str, port: int, log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "uvicorn", stage.app, "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:  # its access log shows each request and its status
        server = subprocess.Popen(command, cwd=folder, env={**os.environ, "API_KEY": key}, stdout=out,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 30
    while not answers(port):
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            sys.exit(f"The stage-{stage.number} server in {folder} did not start:\n{log.read_text(errors='replace')}")
        time.sleep(0.1)
    return server


def run_cli(url: str, transport: str, key: str) -> int:
    reason = interop.not_ready()
    if reason:
        print(reason, file=sys.stderr)
        return 1
    shown = f'node index.js {url} --transport {transport} --header "{HEADER}: $API_KEY"'
    print(f"\nThe Inspector CLI (run from {interop.INSPECTOR_CLI.relative_to(ROOT)}):\n  {shown} --method tools/list")
    listed = interop.inspector_cli(url, transport, {HEADER: key})
    if not listed.connected:
        print(listed.output, file=sys.stderr)
        return 1
    print("  tools:", ", ".join(listed.tools))
    name = next((tool for tool in listed.tools if tool in DEMO_CALLS), None)
    if name:
        arguments = DEMO_CALLS[name]
        print(f"  {shown} --method tools/call --tool-name {name}"
              + "".join(f" --tool-arg {arg}={value}" for arg, value in arguments.items()))
        called = interop.inspector_cli(url, transport, {HEADER: key}, call=name, arguments=arguments)
        print("  " + (called.called or called.output).strip().replace("\n", "\n  ")[:800])
    refused = interop.inspector_cli(url, transport, {})
    print(f"\nWithout the key:\n  {shown.split(' --header')[0]} --method tools/list\n  "
          + ("REFUSED: " + refused.error if not refused.connected else f"LET IN (tools: {refused.tools}): the server is open!"))
    return 0 if not refused.connected else 1


def run_ui(url: str, transport: str) -> int:
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
          f"open Authentication, add the header {HEADER} with your key, and press Connect.\n"
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
    key = os.environ.get("API_KEY", "").strip()
    if not key:
        sys.exit("API_KEY is not set. Choose a key once and use it in every terminal (server, Inspector, hosts):\n"
                 "  export API_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')")
    port = options.port or stage.port
    url = f"http://127.0.0.1:{port}{stage.endpoint}"
    transport = "sse" if stage.endpoint.endswith("/sse") else "http"
    server = None
    if answers(port):
        print(f"Something already answers on port {port}: inspecting it (it must use the same key).")
    else:
        log = Path(tempfile.gettempdir()) / f"workshop-inspect-{stage.number}.log"
        where = folder.relative_to(ROOT) if folder.is_relative_to(ROOT) else folder
        print(f"Starting {where} on {url} (server log: {log}) ...", flush=True)
        server = start_server(stage, folder, key, port, log)
    try:
        return run_cli(url, transport, key) if options.cli else run_ui(url, transport)
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=5)
            except subprocess.TimeoutExpired:
                server.kill()


if __name__ == "__main__":
    sys.exit(main())
