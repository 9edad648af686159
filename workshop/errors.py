"""Turn a refused MCP connection into one sentence a student can act on.

The agents SDK reports a refused connection in different ways per transport: over
SSE the 401 is in the error text; over streamable HTTP (mcp 2.x) the status is
lost inside an exception group. explain_refusal() finds it either way, asking
the server directly when it has to. What the server wants is read from its own
WWW-Authenticate challenge, never guessed from the headers the client sent.
"""

from __future__ import annotations

import re
import ssl
import sys
from contextlib import contextmanager
from urllib.parse import urlsplit

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


def _causes(error: BaseException):
    """ERROR and everything inside it: exception groups, causes, contexts (each once)."""
    stack, seen = [error], set()
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack.extend(getattr(current, "exceptions", ()) or ())
        stack.extend(part for part in (current.__cause__, current.__context__) if part is not None)


def _tls_failure(error: BaseException) -> str | None:
    """Why the TLS handshake failed, if that is what happened (the server answered, but was not trusted)."""
    for current in _causes(error):
        if isinstance(current, ssl.SSLCertVerificationError):
            return current.verify_message or str(current)
        if isinstance(current, ssl.SSLError) or "CERTIFICATE_VERIFY_FAILED" in str(current):
            return str(current)
    return None


def _ask_server(url: str, headers: dict[str, str]) -> tuple[int | None, str, str | None]:
    """Send the request the client would have sent: the status the server answers, its challenge,
    and, when no answer came because the TLS handshake failed, why."""
    try:
        if urlsplit(url).path.rstrip("/").endswith("/sse"):  # the path: a key in the query must not hide it
            with httpx.stream("GET", url, headers=headers, timeout=5) as response:
                return response.status_code, response.headers.get("www-authenticate", ""), None
        response = httpx.post(url, json=_INITIALIZE, timeout=5,
                              headers={**headers, "Accept": "application/json, text/event-stream"})
        return response.status_code, response.headers.get("www-authenticate", ""), None
    except httpx.HTTPError as error:
        return None, "", _tls_failure(error)


def _printable(text: str, limit: int = 200) -> str:
    """Server-chosen text, safe to print on a terminal: no control characters, not too long."""
    shown = "".join(char if char.isprintable() else "?" for char in text)
    return shown if len(shown) <= limit else shown[:limit] + "..."


def _param(challenge: str, name: str) -> str | None:
    """One auth-param of a WWW-Authenticate challenge (quoted or not), e.g. header="X-API-Key"."""
    match = re.search(rf'(?:^|[\s,]){re.escape(name)}\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))', challenge, re.I)
    return None if match is None else (match[1] if match[1] is not None else match[2])


def _wanted(challenge: str, headers: dict[str, str]) -> str:
    """What the server's challenge asks for, in words, and how that differs from what was sent.

    The server is the authority on its own scheme: a client that sent a token to a server
    that wants a key (or the other way round) is told so, whatever the client guessed."""
    if not challenge:
        return "It sent no WWW-Authenticate challenge, so it does not say how to authenticate."
    scheme = challenge.split(None, 1)[0].rstrip(",")
    sent = ", ".join(sorted(headers)) or "no credential header"
    if scheme.lower() == "bearer":
        wanted = "It wants an access token: Authorization: Bearer <token>."
        described = _param(challenge, "error_description")
        if described:
            wanted += f" It says: {_printable(described)}."
        asked = "authorization"
    else:
        header = _param(challenge, "header") or "the header its challenge names"
        wanted = f"It wants a key in the {_printable(header, 60)} header (challenge: {_printable(challenge)})."
        asked = header.lower()
    if asked not in {name.lower() for name in headers}:
        wanted += f" The client sent {sent}."
    return wanted


def explain_refusal(error: BaseException, url: str, headers: dict[str, str]) -> str:
    tls = _tls_failure(error)
    status = _status_in(error)
    challenge = ""
    if tls is None and status in (None, 401, 403):  # the challenge is in the server's answer: ask for it
        asked, challenge, tls = _ask_server(url, headers)
        if status == 401 and asked is not None and asked < 300:
            # The headers the agent was given are accepted: its own requests went without them.
            challenge = _ask_server(url, {})[1]
            return (f"The MCP server at {url} refused the connection: 401 Unauthorized. " + _wanted(challenge, {})
                    + " The same credential, sent in headers, is accepted: the agent's requests did not carry it"
                      " there (a credential belongs in the client's headers, never in the URL).")
        status = status or asked
    if tls is not None and status is None:
        return (f"The TLS handshake with {url} failed, so nothing was sent: the server's certificate is not trusted "
                f"({_printable(tls)}). If a local CA signed it, point SSL_CERT_FILE at that CA's certificate.")
    if status == 401:
        return f"The MCP server at {url} refused the connection: 401 Unauthorized. " + _wanted(challenge, headers)
    if status == 403:
        if challenge.lower().startswith("bearer") and _param(challenge, "error") == "insufficient_scope":
            needed = _param(challenge, "scope")
            return (f"The MCP server at {url} answered 403 Forbidden: the token was accepted but lacks a scope "
                    f"this needs" + (f" (it asks for: {_printable(needed)})." if needed else "."))
        return f"The MCP server at {url} answered 403 Forbidden: the credential was accepted but is not allowed here."
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
