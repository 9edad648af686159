"""Turn a refused MCP connection into one sentence a student can act on.

The agents SDK reports a refused connection in different ways per transport: over
SSE the 401 is in the error text; over streamable HTTP (mcp 2.x) the status is
lost inside an exception group. explain_refusal() finds it either way, asking
the server directly when it has to.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager

import httpx

_INITIALIZE = {
    "jsonrpc": "2.0", "id": 0, "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {},
               "clientInfo": {"name": "workshop-probe", "version": "0"}},
}


def _status_in(error: BaseException) -> int | None:
    """The HTTP status buried in an exception (or exception group), if there is one."""
    stack = [error]
    while stack:
        current = stack.pop()
        response = getattr(current, "response", None)
        status = getattr(response, "status_code", None)
        if isinstance(status, int):
            return status
        for code in (401, 403, 404, 421, 500):
            if f"{code} (" in str(current) or f"'{code} " in str(current) or f"HTTP error {code}" in str(current):
                return code
        stack.extend(getattr(current, "exceptions", ()) or ())
        if current.__cause__ is not None:
            stack.append(current.__cause__)
        if current.__context__ is not None:
            stack.append(current.__context__)
    return None


def _ask_server(url: str, headers: dict[str, str]) -> int | None:
    """Send the request the client would have sent and return the status the server answers."""
    try:
        if url.rstrip("/").endswith("/sse"):
            with httpx.stream("GET", url, headers=headers, timeout=5) as response:
                return response.status_code
        response = httpx.post(url, json=_INITIALIZE, timeout=5,
                              headers={**headers, "Accept": "application/json, text/event-stream"})
        return response.status_code
    except httpx.HTTPError:
        return None


def explain_refusal(error: BaseException, url: str, headers: dict[str, str]) -> str:
    status = _status_in(error) or _ask_server(url, headers)
    bearer = any(name.lower() == "authorization" for name in headers)  # stage 06 on: tokens, not keys
    if status == 401:
        return (f"The MCP server at {url} refused the connection: 401 Unauthorized. " +
                ("It wants a valid access token (Authorization: Bearer ...)." if bearer
                 else "It wants a valid key in the X-API-Key header."))
    if status == 403:
        return (f"The MCP server at {url} answered 403 Forbidden: the " +
                ("token was accepted but lacks a scope this needs." if bearer
                 else "key was accepted but is not allowed here."))
    if status is not None and status < 300:
        return (f"The agent failed although the MCP server at {url} accepts the headers it was given "
                f"({error.__class__.__name__}: {error}). Does the client pass them in its params?")
    if status is not None and status >= 400:
        return f"The MCP server at {url} answered {status}; check the URL and the server's log."
    if status is None and isinstance(error, (httpx.ConnectError, OSError)) or "connect" in str(error).lower():
        return f"Could not reach an MCP server at {url}: is it running? (start it with `make serve`)"
    return f"The agent failed: {error.__class__.__name__}: {error}"


@contextmanager
def plain_errors(url: str, headers: dict[str, str] | None = None):
    """Run the agent; if the connection fails, print one plain sentence and exit with status 1."""
    try:
        yield
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as error:
        print(explain_refusal(error, url, headers or {}), file=sys.stderr)
        sys.exit(1)
