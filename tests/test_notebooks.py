"""Every stage has an instructor notebook, and each one still shows its point when run headless, twice."""

import os
import re

import pytest

from grader.stages import load_stages
from course.notebooks import NOTEBOOKS, execute

STAGES = [stage.id for stage in load_stages()]

# A whole stage 05 key, secret and all: no notebook may print one.
FULL_KEY = re.compile(r"mcpk_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}")

# What each notebook must print: the attack's harm on the broken server, the 401 on the solution.
MUST_SHOW = {
    "01-middleware": [
        "GET /items/ (no key)\n  -> 200 OK",  # the solution with its middleware removed: open to anyone
        "the list now: ['milk', 'bread', 'apples', \"a stranger's item\"]",  # ...and a stranger writes to it
        "-> 401 Unauthorized, WWW-Authenticate: ApiKey",
        "GET /items/ (X-API-Key: '<the key>', X-API-Key: 'wrong')\n  -> 200 OK",  # the naive guard, doubled header
        "no WWW-Authenticate header",
        "GET /items/ (X-API-Key: 'super_secret_value')\n  -> 200 OK",  # the naive guard's published default
        "API_KEY is not set",  # the solution fails closed
        "different lengths return at once: False",  # hmac.compare_digest walks its second argument...
        "the second argument sets the time: True",  # ...whatever the first holds: the secret goes second
        "tools: ['get_items', 'add_item', 'mark_purchased']",
        "get_items -> [{'name': 'milk'",
        "refused the connection: 401 Unauthorized",
        "lines of server output that contain the key: []",
    ],
    "02-agent-headers": [
        "Here is what get_items returned:",  # the offline model's words: no real model ran
        "- name: oat milk, quantity: 1",
        "HTTP error 401",
        '"GET /mcp/sse?api_key=<the key> HTTP/1.1" 401',
        "GET /items/ (X-API-Key: '<the key>')\n  -> 200 OK",  # the key read from the log works
    ],
    "03-prefix-only": [
        "GET /items/ (no key)\n  -> 200 OK",
        "(no key)\n  -> 202 Accepted",  # the stream-only guard takes a tool call into a live session
        "the list now: ['milk', 'bread', 'apples', '100 gift cards']",  # ...and the tool ran
        "(no key)\n  -> 401 Unauthorized",
        "the list now: ['milk', 'bread', 'apples']\n",  # the solution: nothing added
        "(root path /api)\nGET /mcp/sse (no key)\n  -> 200 OK, event stream",  # the naive prefix behind a proxy
        "Here is what get_items returned:",
    ],
    "04-pure-asgi": [
        '"Missing API key. Send it in the X-API-Key header."',
        '"Invalid API key."',
        "Tonight: 41°F, wind 5 mph NW. Mostly clear, with a low around 41.",
        "refused the connection: 401 Unauthorized",
        "Mcp-Name: 'get_forecast')\n  -> 401 Unauthorized",  # the stateless era, no key
        "Mcp-Name: 'get_forecast', X-API-Key: '<the key>')\n  -> 200 OK, body {\"jsonrpc\":\"2.0\",\"id\":1,\"result\"",
        "Origin: 'http://evil.example')\n  -> 403 Forbidden",
        "Host: 'mcp.example.com')\n  -> 421 Misdirected Request",
        "-> 500 Internal Server Error",
        "X-API-Key: 'your-secure-api-key-change-this')\n  -> 200 OK",
        "API_KEY is not set",
        "lines of server output that contain the key: []",
    ],
    "05-key-management": [
        "mcpk_",  # keys shown by id...
        "_<secret hidden>",  # ...never with their secret
        "the key in the database file: False",
        "tools: ['get_forecast', 'whoami']",
        "tools: ['get_alerts']",
        "may not call the tool 'get_alerts'",
        "Tonight: 41°F, wind 5 mph NW. Mostly clear, with a low around 41.",
        "This API key has expired.",
        "This API key has been revoked.",
        "429 Too Many Requests, retry-after:",
        "(a valid key, from the throttled address)\n  -> 200 OK",
        "x 429; the audit log grew by ",
        "(tools/list in that session, another valid key)\n  -> 404 Not Found",
        "(DELETE that session, another valid key)\n  -> 404 Not Found",
        "was already rotated to",
        "lines of server output holding a key: []",
        "keys in the audit log: []",
    ],
    "06-bearer-tokens": [
        '(no token)\n  -> 401 Unauthorized, WWW-Authenticate: Bearer resource_metadata="http://127.0.0.1:',
        '"resource": "http://127.0.0.1:',
        '"subject": "alice"',
        '(a token HS256 with the public key as secret)\n  -> 401 Unauthorized, WWW-Authenticate: Bearer error="invalid_token"',
        'error="insufficient_scope"',
        'scope="weather:read forecast:read"',
        "(carol's token, bob's session id)\n  -> 404 Not Found",
        "Tonight: 41°F, wind 5 mph NW. Mostly clear, with a low around 41.",
        "refused the connection: 401 Unauthorized",
        "the client's token reached the NWS: False",
        "(a token typed JWT, as an ID token is (not at+jwt))\n  -> 401 Unauthorized",
        "(a token with its scopes split by an em space)\n  -> 401 Unauthorized",
        "(a token valid for a century)\n  -> 401 Unauthorized",
        "(a token for the calendar server)\n  -> 200 OK",  # the careless verifier
        "(a token for the calendar server)\n  -> 401 Unauthorized",  # the solution
        "lines of server output that contain a token: []",
        "ExpiredSignatureError",
    ],
}

# What a key from course.demo.new_key() looks like (secrets.token_urlsafe(32)): none may be printed.
A_KEY = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])")


def test_every_stage_has_a_notebook_and_every_notebook_a_stage():
    assert sorted(path.stem for path in NOTEBOOKS.glob("*.ipynb")) == sorted(STAGES)
    assert set(MUST_SHOW) == set(STAGES), "a stage's notebook has no expectations in this test"


def test_notebooks_are_stored_without_outputs():
    import nbformat

    for path in NOTEBOOKS.glob("*.ipynb"):
        book = nbformat.read(path, as_version=4)
        assert all(not cell.get("outputs") for cell in book.cells if cell.cell_type == "code"), path.name


def test_every_code_cell_is_introduced_by_a_markdown_cell():
    import nbformat

    for path in NOTEBOOKS.glob("*.ipynb"):
        cells = nbformat.read(path, as_version=4).cells
        for previous, cell in zip([None, *cells], cells):
            if cell.cell_type == "code":
                assert previous is not None and previous.cell_type == "markdown" and previous.source.strip(), \
                    f"{path.name}: no note on what to watch for before {cell.source[:60]!r}"


@pytest.mark.parametrize("stage", STAGES)
def test_the_notebook_runs_twice_in_one_kernel_offline_and_shows_its_point(stage, monkeypatch, tmp_path):
    # An instructor's Jupyter may well have an OpenAI key in its environment: the notebooks must stay offline.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake-key-the-notebooks-must-not-use")
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the kernel's temporary files land here, to be counted
    book, printed = execute(NOTEBOOKS / f"{stage}.ipynb", passes=2)
    for run, text in enumerate(printed, 1):
        missing = [wanted for wanted in MUST_SHOW[stage] if wanted not in text]
        assert not missing, f"run {run} of {stage}.ipynb did not show {missing}; it printed:\n{text}"
        assert not A_KEY.findall(text), f"run {run} of {stage}.ipynb printed what looks like a key: {A_KEY.findall(text)}"
        assert "sk-fake-key" not in text
        assert not FULL_KEY.search(text), f"run {run} of {stage}.ipynb printed a whole key (stage 05's format)"
    assert "all servers stopped" in printed[-1]
    left = sorted(path.name for path in tmp_path.glob("workshop-variant-*"))
    assert not left, f"{stage}.ipynb left its broken copies of the solution behind: {left}"


def test_a_demo_variant_is_removed_by_stop_all_and_at_exit(tmp_path):
    import subprocess
    import sys

    script = ("from course import demo; made = demo.variant('01-middleware', 'auth.py', {'import': 'import'}); "
              "print(made); ENDING")
    for ending in ("demo.stop_all()", "pass"):  # a notebook that reaches its last cell, and one shut down before
        done = subprocess.run([sys.executable, "-c", script.replace("ENDING", ending)], capture_output=True, text=True,
                              timeout=60, env={**os.environ, "TMPDIR": str(tmp_path)})
        assert done.returncode == 0, done.stderr
        made = done.stdout.splitlines()[0]
        assert made.startswith(str(tmp_path)) and not os.path.exists(made), done.stdout
    assert not list(tmp_path.glob("workshop-variant-*"))


def test_notebooks_build_their_servers_from_the_solutions_never_from_the_exercises():
    # An instructor may have solved exercises/ in this checkout: a "before" server built from it would be guarded.
    import nbformat

    for path in NOTEBOOKS.glob("*.ipynb"):
        code = "\n".join(cell.source for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code")
        assert "exercises" not in code, f"{path.name} uses exercises/"


def test_the_demo_helpers_hide_a_key_and_its_near_misses(capsys):
    from course import demo

    key = demo.new_key()
    shown = demo.hide(f"X-API-Key: {key}; almost: {key[:-1]}; session_id=0123456789abcdef0123456789abcdef")
    assert key not in shown and key[:-1] not in shown, shown
    assert "<the key>" in shown and "<part of the key>" in shown
    assert "session_id=0123456789abcdef0123456789abcdef" in shown  # other long values stay readable
