"""Run MCP clients that someone else wrote against the workshop's servers.

A server only our own Python client has talked to is not proven. The clients
here are Node.js programs installed by `make setup` into interop/node_modules
from the pinned interop/package-lock.json:

- interop/mcp_client.mjs: a client written with the official TypeScript SDK;
- the MCP Inspector's CLI mode (@modelcontextprotocol/inspector-cli);
- mcp-remote, the stdio bridge Claude Desktop uses to reach a remote server.

Each run is one connection attempt, reported as an `Attempt`; `verdict` says
what is wrong with a server from three attempts: with the key, without a key,
and with a wrong key.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INTEROP = ROOT / "interop"
NODE_MODULES = INTEROP / "node_modules"
CLIENT = INTEROP / "mcp_client.mjs"
# The Inspector CLI finds its own package.json relative to the working directory: run it from build/.
INSPECTOR_CLI = NODE_MODULES / "@modelcontextprotocol" / "inspector-cli" / "build"
MCP_REMOTE = NODE_MODULES / "mcp-remote" / "dist" / "proxy.js"
HOSTS = INTEROP / "hosts"


def node() -> str | None:
    return shutil.which("node")


def not_ready() -> str | None:
    """Why the Node.js clients cannot run here, or None when they can."""
    if node() is None:
        return "Node.js is not installed (no `node` on PATH): install Node.js 20 or newer, then `make setup`."
    if not (NODE_MODULES / ".workshop-installed").is_file():
        return ("interop/node_modules is not installed: run `make setup` (it runs `npm ci` in interop/, "
                "which needs the npm registry once).")
    return None


def pinned_version(package: str) -> str:
    """The exact version interop/package.json pins for PACKAGE."""
    return json.loads((INTEROP / "package.json").read_text())["dependencies"][package]


@dataclass
class Attempt:
    """One connection by one client: what it got, and everything it printed."""

    client: str
    connected: bool
    tools: list[str] = field(default_factory=list)
    called: str | None = None       # the called tool's text answer
    call_failed: bool = False
    status: int | None = None        # the HTTP status of a refusal, when the client tells it
    error: str = ""
    output: str = ""

    def __str__(self) -> str:
        return f"{self.client}: {self.output.strip()[:1500]}"


def _kill_group(process: subprocess.Popen) -> None:
    try:
        if hasattr(os, "killpg"):
            os.killpg(process.pid, signal.SIGKILL)  # the client and whatever it started (a bridge)
        else:
            process.kill()
    except (ProcessLookupError, PermissionError, OSError):
        pass


def _run(command: list[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 30) -> tuple[int | None, str, str]:
    """Run COMMAND in its own process group; kill the whole group after TIMEOUT seconds."""
    process = subprocess.Popen(command, cwd=cwd, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        out, err = process.communicate(timeout=timeout)
        code = process.returncode
    except subprocess.TimeoutExpired:
        _kill_group(process)
        out, err = process.communicate()
        code = None
        err += f"\n(killed after {timeout:.0f} s)"
    _kill_group(process)  # whatever it started and left behind
    return code, out, err


def _from_client_report(client: str, code: int | None, out: str, err: str) -> Attempt:
    output = out + (("\n[stderr]\n" + err) if err.strip() else "")
    try:
        report = json.loads(out.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return Attempt(client, False, error=f"no JSON report (exit status {code})", output=output)
    call = report.get("call") or {}
    return Attempt(client, bool(report.get("connected")), tools=report.get("tools", []),
                   called=call.get("text"), call_failed=bool(call.get("isError")),
                   status=report.get("status"), error=report.get("error", ""), output=output)


def typescript_client(url: str, transport: str, headers: dict[str, str], *,
                      call: str | None = None, arguments: dict | None = None) -> Attempt:
    """interop/mcp_client.mjs (the official TypeScript SDK): connect, list tools, call one."""
    command = [node() or "node", str(CLIENT), "--url", url, "--transport", transport]
    if call:
        command += ["--call", call, "--args", json.dumps(arguments or {})]
    # The key travels in the environment, not in argv (which every local user can read).
    code, out, err = _run(command, cwd=INTEROP, env={"MCP_HEADERS": json.dumps(headers)})
    return _from_client_report("TypeScript SDK client", code, out, err)


def through_bridge(bridge: list[str], env: dict[str, str], *, label: str = "stdio bridge",
                   call: str | None = None, arguments: dict | None = None,
                   env_block: dict[str, str] | None = None) -> Attempt:
    """Start BRIDGE (a stdio command) as a desktop host would, and talk MCP to it with the TypeScript SDK.

    Like a host, the SDK's stdio client hands the bridge only a few variables of its own environment
    (ENV is the host's: the bridge does not see it) and the entry's "env" block, ENV_BLOCK."""
    command = [node() or "node", str(CLIENT), "--transport", "stdio"]
    if call:
        command += ["--call", call, "--args", json.dumps(arguments or {})]
    code, out, err = _run(command + ["--", *bridge], cwd=INTEROP,
                          env={**env, "MCP_BRIDGE_ENV": json.dumps(env_block or {})})
    return _from_client_report(label, code, out, err)


def inspector_cli(url: str, transport: str, headers: dict[str, str], *,
                  call: str | None = None, arguments: dict | None = None) -> Attempt:
    """The MCP Inspector in CLI mode: tools/list, or tools/call when CALL is given."""
    command = [node() or "node", "index.js", url, "--transport", transport]
    for name, value in headers.items():
        command += ["--header", f"{name}: {value}"]
    if call:
        command += ["--method", "tools/call", "--tool-name", call]
        for name, value in (arguments or {}).items():
            command += ["--tool-arg", f"{name}={value}"]
    else:
        command += ["--method", "tools/list"]
    code, out, err = _run(command, cwd=INSPECTOR_CLI)
    output = out + (("\n[stderr]\n" + err) if err.strip() else "")
    attempt = Attempt("MCP Inspector CLI", False, output=output)
    if code != 0:
        found = re.search(r"\((\d{3})\)", err)  # "SSE error: Non-200 status code (401)"
        attempt.status = int(found.group(1)) if found else None
        attempt.error = err.strip().splitlines()[-1] if err.strip() else f"exit status {code}"
        return attempt
    try:
        result = json.loads(out)
    except ValueError:
        attempt.error = "the Inspector printed no JSON"
        return attempt
    attempt.connected = True
    if call:
        attempt.called = "\n".join(part.get("text", "") for part in result.get("content", []))
        attempt.call_failed = bool(result.get("isError"))
    else:
        attempt.tools = [tool["name"] for tool in result.get("tools", [])]
    return attempt


def refused(attempt: Attempt, what: str, *, status_known: bool = True) -> list[str]:
    """Problems, if ATTEMPT (made WHAT, e.g. "without a key") was not refused with a 401."""
    if attempt.connected:
        return [f"{attempt.client} {what} was let in (tools: {attempt.tools or 'not listed'}):\n{attempt}"]
    if attempt.status == 401 or (attempt.status is None and not status_known):
        return []
    return [f"{attempt.client} {what} failed, but not with 401 Unauthorized (status {attempt.status}): "
            f"{attempt.error}\n{attempt}"]


def verdict(with_key: Attempt, without_key: Attempt, wrong_key: Attempt, *, tools: set[str],
            status_known: bool = True) -> list[str]:
    """Everything wrong with a server, judged from one client's three attempts; [] when all is well.

    With the key the client must connect, see TOOLS and call one; without a key and
    with a wrong one it must be refused (401, when the client reports the status).
    """
    problems = []
    if not with_key.connected:
        problems.append(f"{with_key.client} with the key could not connect: {with_key.error}\n{with_key}")
    elif with_key.tools and not tools <= set(with_key.tools):
        problems.append(f"{with_key.client} with the key listed {with_key.tools}, expected {sorted(tools)}")
    elif with_key.called is not None and (with_key.call_failed or not with_key.called.strip()):
        problems.append(f"{with_key.client} with the key called a tool and got an error or nothing:\n{with_key}")
    problems += refused(without_key, "without a key", status_known=status_known)
    problems += refused(wrong_key, "with a wrong key", status_known=status_known)
    return problems


CONFORMANCE = NODE_MODULES / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
WITH_HEADERS = INTEROP / "with_headers.mjs"


def conformance(url: str, scenario: str, headers: dict[str, str]) -> tuple[bool, str]:
    """One server scenario of the official MCP conformance suite; (passed, its output without colours).

    The suite has no header option: with_headers.mjs, preloaded, adds HEADERS to every fetch it makes.
    """
    command = [node() or "node", "--import", WITH_HEADERS.as_uri(), str(CONFORMANCE), "server",
               "--url", url, "--scenario", scenario]
    code, out, err = _run(command, cwd=INTEROP, env={"MCP_HEADERS": json.dumps(headers)}, timeout=60)
    output = re.sub(r"\x1b\[[0-9;]*m", "", out + err)
    found = re.search(r"Passed: (\d+)/(\d+), (\d+) failed", output)
    passed = code == 0 and found is not None and found.group(1) == found.group(2) and found.group(3) == "0"
    return passed, output
