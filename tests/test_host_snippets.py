"""The host configurations in interop/hosts/ are valid, match stages.toml, and hold no key.

A student copies them unchanged into VS Code, Cursor or Claude Desktop, so each
value must be the one the lesson's servers use: http://127.0.0.1, the stage's
port and endpoint path from stages.toml, the transport that endpoint speaks,
and the header the solution checks. The key itself never appears: it comes
from a VS Code input or from the environment. (tests/test_interop.py connects
with each snippet; this file needs no Node.js.)
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import pytest

from grader.stages import ROOT, SOLUTIONS, stage_by_id
from course import interop

# Which server of each snippet is which stage.
STAGES = {"shopping-list": stage_by_id("01"), "weather": stage_by_id("04")}


def header_the_solution_checks(stage) -> str:
    """The header name as the stage's solution spells it (auth.py's HEADER, or the middleware's default)."""
    for name, pattern in (("auth.py", r'^HEADER = "([^"]+)"'), ("auth_middleware.py", r'header: str = "([^"]+)"')):
        path = SOLUTIONS / stage.id / name
        if path.is_file() and (found := re.search(pattern, path.read_text(), re.M)):
            return found.group(1)
    raise AssertionError(f"no header name found in solutions/{stage.id}")


def transport_of(stage) -> str:
    return "sse" if stage.endpoint.endswith("/sse") else "http"


def load(path: str) -> dict:
    text = (interop.HOSTS / path).read_text()
    return json.loads(text)  # strict JSON: Claude Desktop and Cursor accept nothing looser


def assert_lesson_url(url: str, stage) -> None:
    parts = urlsplit(url)
    assert (parts.scheme, parts.hostname, parts.port, parts.path) == ("http", "127.0.0.1", stage.port, stage.endpoint), \
        f"{url} is not the stage-{stage.number} server (http://127.0.0.1:{stage.port}{stage.endpoint})"
    assert not parts.query and not parts.fragment, f"{url}: nothing belongs in the query, least of all a key"


@pytest.mark.parametrize("path", ["vscode/mcp.json", "cursor/mcp.json", "claude-desktop/claude_desktop_config.json"])
def test_no_snippet_holds_a_key(path):
    text = (interop.HOSTS / path).read_text()
    for known in ("super_secret_value", "workshop-demo-key"):
        assert f'"{known}"' not in text and f":{known}\"" not in text, f"{path} holds the key {known!r}"
    assert '"env"' not in text, f"{path}: an env block would hold the key in the file; take it from the environment"


def test_vscode_snippet_matches_the_stages_and_asks_for_the_key():
    config = load("vscode/mcp.json")
    inputs = {item["id"]: item for item in config["inputs"]}
    assert set(config["servers"]) == set(STAGES)
    for name, server in config["servers"].items():
        stage = STAGES[name]
        assert server["type"] == transport_of(stage), f"{name}: VS Code calls this transport {transport_of(stage)!r}"
        assert_lesson_url(server["url"], stage)
        assert list(server["headers"]) == [header_the_solution_checks(stage)]
        found = re.fullmatch(r"\$\{input:([^}]+)\}", server["headers"][header_the_solution_checks(stage)])
        assert found and found.group(1) in inputs, f"{name}: the key must come from a declared ${{input:...}}"
        prompt = inputs[found.group(1)]
        # password: VS Code masks what is typed and keeps the value in its secret storage, not in the file.
        assert prompt["type"] == "promptString" and prompt["password"] is True, prompt


def test_cursor_snippet_matches_the_stages_and_reads_the_key_from_the_environment():
    servers = load("cursor/mcp.json")["mcpServers"]
    assert set(servers) == set(STAGES)
    for name, server in servers.items():
        stage = STAGES[name]
        assert set(server) == {"url", "headers"}, server
        assert_lesson_url(server["url"], stage)
        header = header_the_solution_checks(stage)
        assert server["headers"] == {header: "${env:" + name.upper().replace("-", "_") + "_API_KEY}"}, server


def test_claude_desktop_snippet_runs_the_pinned_mcp_remote_with_the_key_from_a_header_file():
    servers = load("claude-desktop/claude_desktop_config.json")["mcpServers"]
    assert set(servers) == set(STAGES)
    for name, server in servers.items():
        stage = STAGES[name]
        assert set(server) == {"command", "args"}, server
        args = server["args"]
        assert server["command"] == "npx" and args[:2] == ["-y", f"mcp-remote@{interop.pinned_version('mcp-remote')}"], \
            "the same mcp-remote version the tests run (interop/package.json)"
        assert_lesson_url(args[2], stage)
        options = dict(zip(args[3::2], args[4::2]))
        assert options["--transport"] == {"sse": "sse-only", "http": "http-only"}[transport_of(stage)], options
        # Claude Desktop hands a stdio server only a few variables of its environment, so a ${NAME} for
        # mcp-remote to expand would stay literal: the key comes from a file only its owner reads, named
        # by an absolute path (the one value the student edits), and is in neither config nor argv.
        assert "--header" not in options, "a --header value is either in the file or in the process list"
        assert options["--header-file"] == f"/ABSOLUTE/PATH/TO/.workshop-keys/{name}.headers", options


def test_the_hosts_lesson_quotes_every_snippet_and_is_linked():
    lesson = (ROOT / "lessons" / "hosts" / "README.md").read_text()
    for path in ("vscode/mcp.json", "cursor/mcp.json", "claude-desktop/claude_desktop_config.json"):
        assert f"<!-- code: interop/hosts/{path} -->" in lesson, f"lessons/hosts/README.md does not quote {path}"
    assert "(hosts/README.md)" in (ROOT / "lessons" / "README.md").read_text()
