"""Every stage has an instructor notebook, and each one still shows its point when run headless, twice."""

import pytest

from grader.stages import load_stages
from workshop.notebooks import NOTEBOOKS, execute

STAGES = [stage.id for stage in load_stages()]

# What each notebook must print: the 401, the 200, the tool result, the attack.
MUST_SHOW = {
    "01-middleware": [
        "GET /items/ (no key)\n  -> 200 OK",  # the starter: open to anyone
        "-> 401 Unauthorized, WWW-Authenticate: ApiKey",
        "tools: ['get_items', 'add_item', 'mark_purchased']",
        "get_items -> [{'name': 'milk'",
        "refused the connection: 401 Unauthorized",
    ],
    "02-agent-headers": [
        "Here is what get_items returned:",
        "- name: oat milk, quantity: 1",
        "HTTP error 401",
        '"GET /mcp/sse?api_key=super_secret_value HTTP/1.1" 401',
    ],
    "03-prefix-only": [
        "GET /items/ (no key)\n  -> 200 OK",
        "(no key)\n  -> 202 Accepted",  # the stream-only guard lets a session id in
        "(no key)\n  -> 401 Unauthorized",
        "(root path /api)\nGET /mcp/sse (no key)\n  -> 200 OK, event stream",  # the naive prefix behind a proxy
    ],
    "04-pure-asgi": [
        '"Missing API key. Send it in the X-API-Key header."',
        '"Invalid API key."',
        "Tonight: 41°F, wind 5 mph NW. Mostly clear, with a low around 41.",
        "refused the connection: 401 Unauthorized",
        "-> 500 Internal Server Error",
        "API_KEY is not set",
        "lines of server output that contain the key: []",
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
        "(a token for the calendar server)\n  -> 200 OK",  # the careless verifier
        "(a token for the calendar server)\n  -> 401 Unauthorized",  # the solution
        "lines of server output that contain a token: []",
        "ExpiredSignatureError",
    ],
}


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
def test_the_notebook_runs_twice_in_one_kernel_and_shows_its_point(stage):
    book, printed = execute(NOTEBOOKS / f"{stage}.ipynb", passes=2)
    for run, text in enumerate(printed, 1):
        missing = [wanted for wanted in MUST_SHOW[stage] if wanted not in text]
        assert not missing, f"run {run} of {stage}.ipynb did not show {missing}; it printed:\n{text}"
    assert "all servers stopped" in printed[-1]
