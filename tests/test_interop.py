"""MCP clients someone else wrote get in with the key and are refused without it.

The official TypeScript SDK (interop/mcp_client.mjs), the MCP Inspector's CLI
mode, and the host configurations in interop/hosts/ (resolved the way each host
resolves them) connect to the stage-01 solution (HTTP+SSE) and the stage-04
solution (streamable HTTP), each started under uvicorn with a fresh random key.
The same clients against copies of the solutions whose guard was taken out
must make `interop.verdict` report the failure: the test can fail.

Needs Node.js and `make setup` (npm ci in interop/). Without Node.js the whole
module is skipped with that reason; with Node.js but no interop/node_modules it fails.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from grader.harness import Server, stop_servers
from grader.stages import SOLUTIONS, Stage, stage_by_id
from course import interop

# One xdist worker runs the whole module: the servers start once for all its tests.
pytestmark = [pytest.mark.xdist_group("interop")]
if interop.node() is None:
    pytestmark.append(pytest.mark.skip(reason=interop.not_ready()))


@dataclass(frozen=True)
class Target:
    """A solution server and what a client should be able to do with it."""

    stage: Stage
    transport: str          # what the TypeScript SDK and the Inspector call it: "sse" or "http"
    tools: frozenset[str]
    call: str
    arguments: dict
    guard: tuple[str, str, str]  # (file, the line that installs the guard, the same line without it)

    @property
    def folder(self) -> Path:
        return SOLUTIONS / self.stage.id


TARGETS = {
    "01": Target(stage_by_id("01"), "sse", frozenset({"get_items", "add_item", "mark_purchased"}), "get_items", {},
                 ("main.py", "app = FastAPI(middleware=[Middleware(ApiKeyMiddleware)])", "app = FastAPI()")),
    "04": Target(stage_by_id("04"), "http", frozenset({"get_alerts", "get_forecast"}), "get_alerts", {"state": "CA"},
                 ("secure_weather_server.py",
                  'app = ApiKeyAuthMiddleware(mcp_app, api_key=API_KEY, protected_paths=["/mcp"])', "app = mcp_app")),
}


@dataclass
class Running:
    target: Target
    server: Server
    key: str

    @property
    def url(self) -> str:
        return self.server.base_url + self.target.stage.endpoint

    def headers(self, key: str | None) -> dict[str, str]:
        return {} if key is None else {"X-API-Key": key}


def unguarded_copy(target: Target, tmp: Path) -> Path:
    """The solution with its guard taken out: what a server that stopped requiring the key looks like."""
    folder = tmp / f"unguarded-{target.stage.id}"
    shutil.copytree(target.folder, folder, ignore=shutil.ignore_patterns("__pycache__", ".env"))
    name, guarded, unguarded = target.guard
    source = (folder / name).read_text()
    assert source.count(guarded) == 1, f"solutions/{target.stage.id}/{name} no longer holds {guarded!r}: update TARGETS"
    (folder / name).write_text(source.replace(guarded, unguarded))
    return folder


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """Both solutions and both unguarded copies, started at once, each with its own random key."""
    reason = interop.not_ready()
    if reason:
        pytest.fail(reason)
    tmp = tmp_path_factory.mktemp("interop")
    started: dict[str, Running] = {}
    for number, target in TARGETS.items():
        for label, folder in (("guarded", target.folder), ("unguarded", unguarded_copy(target, tmp))):
            key = secrets.token_urlsafe(24)
            server = Server(folder, target.stage.app, env={"API_KEY": key}, label=f"interop-{label}-{number}")
            started[f"{label}-{number}"] = Running(target, server, key)
    try:
        for running in started.values():
            running.server.wait_ready()
        yield started
    finally:
        stop_servers([running.server for running in started.values()])


def three_attempts(client, running: Running) -> tuple[interop.Attempt, interop.Attempt, interop.Attempt]:
    """CLIENT with the key (listing and calling), without a key, and with a wrong key; run side by side."""
    target = running.target
    wrong = secrets.token_urlsafe(24)
    with ThreadPoolExecutor(3) as pool:
        jobs = [pool.submit(client, running.url, target.transport, running.headers(key), **extra)
                for key, extra in ((running.key, {"call": target.call, "arguments": target.arguments}),
                                   (None, {}), (wrong, {}))]
        return tuple(job.result() for job in jobs)


@pytest.mark.parametrize("number", TARGETS)
def test_the_typescript_sdk_client_gets_in_with_the_key_and_is_refused_without_it(servers, number):
    running = servers[f"guarded-{number}"]
    with_key, without_key, wrong_key = three_attempts(interop.typescript_client, running)
    problems = interop.verdict(with_key, without_key, wrong_key, tools=running.target.tools)
    assert problems == [], "\n\n".join(problems) + f"\n\nserver log:\n{running.server.log()}"
    assert set(with_key.tools) == running.target.tools and with_key.called, with_key


@pytest.mark.parametrize("number", TARGETS)
def test_the_inspector_cli_lists_and_calls_tools_with_the_key_and_is_refused_without_it(servers, number):
    running = servers[f"guarded-{number}"]
    target = running.target
    listed = interop.inspector_cli(running.url, target.transport, running.headers(running.key))
    assert set(listed.tools) == target.tools, listed
    called, without_key, wrong_key = three_attempts(interop.inspector_cli, running)
    # The Inspector prints the status for SSE only ("Non-200 status code (401)"); for
    # streamable HTTP it prints the server's message, so a refusal is all it can show.
    problems = interop.verdict(called, without_key, wrong_key, tools=target.tools,
                               status_known=target.transport == "sse")
    assert problems == [], "\n\n".join(problems)
    assert called.called and not called.call_failed, called


@pytest.mark.parametrize("number", TARGETS)
def test_the_verdict_fails_a_server_that_stopped_requiring_the_key(servers, number):
    running = servers[f"unguarded-{number}"]
    with_key, without_key, wrong_key = three_attempts(interop.typescript_client, running)
    problems = interop.verdict(with_key, without_key, wrong_key, tools=running.target.tools)
    # It fails for the right reason: the key still works, and the other two got in.
    assert with_key.connected, with_key
    assert any("without a key was let in" in problem for problem in problems), problems
    assert any("with a wrong key was let in" in problem for problem in problems), problems


@pytest.mark.parametrize("number", TARGETS)
def test_the_refusal_names_the_header_the_host_snippets_send(servers, number):
    """The 401's WWW-Authenticate challenge names X-API-Key: the header every snippet in interop/hosts/ sets."""
    running = servers[f"guarded-{number}"]
    request = urllib.request.Request(running.url, method="GET" if running.target.transport == "sse" else "POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    challenge = refused.value.headers.get("WWW-Authenticate", "")
    assert refused.value.code == 401 and re.search(r'header="X-API-Key"', challenge), (refused.value.code, challenge)


# --- the host snippets, resolved the way each host resolves them -----------------------------------

SNIPPET_STAGES = {"shopping-list": "01", "weather": "04"}


def placeholders(text: str, pattern: str, values: dict[str, str]) -> str:
    """Replace every placeholder PATTERN (one group: the name) in TEXT from VALUES; an unknown name fails."""
    def lookup(found: re.Match) -> str:
        assert found.group(1) in values, f"{found.group(0)} names nothing the test provides: {sorted(values)}"
        return values[found.group(1)]
    return re.sub(pattern, lookup, text)


def host_attempt(host: str, name: str, entry: dict, running: Running, tmp_path: Path) -> interop.Attempt:
    target = running.target
    # The server started for this test listens on a free port, not the lesson's: point the snippet there.
    lesson_url = f"http://127.0.0.1:{target.stage.port}{target.stage.endpoint}"
    if host == "vscode":
        inputs = {item["id"]: running.key for item in json.loads((interop.HOSTS / "vscode/mcp.json").read_text())["inputs"]}
        headers = {header: placeholders(value, r"\$\{input:([^}]+)\}", inputs) for header, value in entry["headers"].items()}
        assert entry["url"] == lesson_url
        return interop.typescript_client(running.url, entry["type"], headers, call=target.call, arguments=target.arguments)
    if host == "cursor":
        env = {f"{name.upper().replace('-', '_')}_API_KEY": running.key}
        headers = {header: placeholders(value, r"\$\{env:([^}]+)\}", env) for header, value in entry["headers"].items()}
        assert entry["url"] == lesson_url
        # Cursor picks the transport itself; the endpoint's name tells which one this server speaks.
        transport = "sse" if entry["url"].endswith("/sse") else "http"
        return interop.typescript_client(running.url, transport, headers, call=target.call, arguments=target.arguments)
    # Claude Desktop starts `npx -y mcp-remote@VERSION URL ...`; run the same pinned mcp-remote from node_modules.
    assert entry["command"] == "npx" and entry["args"][:2] == ["-y", f"mcp-remote@{interop.pinned_version('mcp-remote')}"]
    args = [running.url if arg == lesson_url else arg for arg in entry["args"][2:]]
    assert running.url in args, f"{lesson_url} is not among {entry['args']}"
    # The header file the lesson has the student write (0600, outside every repository), at the path the
    # entry names once its placeholder is replaced; the key is nowhere else.
    headers_file = tmp_path / f"{name}.headers"
    headers_file.write_text("".join(f"{header}: {value}\n" for header, value in running.headers(running.key).items()))
    headers_file.chmod(0o600)
    args = [str(headers_file) if arg.startswith("/ABSOLUTE/PATH/TO/") else arg for arg in args]
    # The host's own environment, even with the key exported in it, does not reach mcp-remote.
    env = {f"{name.upper().replace('-', '_')}_API_KEY": running.key, "HOME": str(tmp_path)}
    return interop.through_bridge([interop.node(), str(interop.MCP_REMOTE), *args], env, label="mcp-remote (Claude Desktop)",
                                  call=target.call, arguments=target.arguments)


HOST_FILES = {"vscode": ("vscode/mcp.json", "servers"), "cursor": ("cursor/mcp.json", "mcpServers"),
              "claude-desktop": ("claude-desktop/claude_desktop_config.json", "mcpServers")}


@pytest.mark.parametrize("host", HOST_FILES)
def test_each_host_snippet_connects_with_the_key_it_names(servers, host, tmp_path):
    """Each snippet, with the key filled in where the host fills it in (an input, the environment), lists and calls tools."""
    path, section = HOST_FILES[host]
    entries = json.loads((interop.HOSTS / path).read_text())[section]
    assert set(entries) == set(SNIPPET_STAGES), entries
    with ThreadPoolExecutor(2) as pool:
        jobs = {name: pool.submit(host_attempt, host, name, entry, servers[f"guarded-{SNIPPET_STAGES[name]}"], tmp_path)
                for name, entry in entries.items()}
        for name, job in jobs.items():
            attempt = job.result()
            tools = servers[f"guarded-{SNIPPET_STAGES[name]}"].target.tools
            assert attempt.connected and set(attempt.tools) == tools, f"{path} {name}: {attempt}"
            assert attempt.called and not attempt.call_failed, f"{path} {name}: {attempt}"


def test_without_node_the_reason_says_so(monkeypatch):
    monkeypatch.setattr(interop.shutil, "which", lambda name: None)
    assert "Node.js is not installed" in interop.not_ready()


# --- the official MCP conformance suite --------------------------------------------------------------

# The server scenarios any MCP server must pass. The rest of the suite calls tools, resources and
# prompts of its own test server (test_image_content, ...) that the weather server does not have,
# and dns-rebinding-protection probes without fetch(), so without the key.
SCENARIOS = ["server-initialize", "ping", "tools-list"]


def test_the_conformance_suite_passes_the_stage_04_server_with_the_key_and_fails_it_without(servers):
    running = servers["guarded-04"]
    with ThreadPoolExecutor(len(SCENARIOS) + 1) as pool:
        jobs = {scenario: pool.submit(interop.conformance, running.url, scenario, running.headers(running.key))
                for scenario in SCENARIOS}
        without_key = pool.submit(interop.conformance, running.url, "server-initialize", {})
        for scenario, job in jobs.items():
            passed, output = job.result()
            assert passed, f"conformance {scenario} with the key:\n{output[-3000:]}"
        passed, output = without_key.result()
        assert not passed and "FAILURE" in output, f"conformance server-initialize without a key passed:\n{output[-3000:]}"
