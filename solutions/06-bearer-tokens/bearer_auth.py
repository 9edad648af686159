"""Bearer token authentication and scopes, as a pure ASGI middleware.

It sits where stage 04's ApiKeyAuthMiddleware sat, in front of the MCP app, and
answers the way the MCP authorization specification (RFC 6750 and RFC 9728)
asks a resource server to answer:

- no token:            401, `WWW-Authenticate: Bearer resource_metadata="...", scope="..."`
                       (no error code: RFC 6750 section 3.1)
- a token it refuses:  401, the same challenge with `error="invalid_token"`
- a token that lacks a scope: 403, `error="insufficient_scope"` and every scope needed

Nothing the client sent goes into a header: the tool's name stays out of the
challenge, and every value in it is quoted (RFC 9110 quoted-string).

A request it lets through carries the verified token where the MCP SDK looks
for it: scope["user"] (sessions are bound to that principal) and scope["auth"].
A GET stream it lets through ends when the token expires.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping

import anyio
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken, TokenVerifier
from starlette.authentication import AuthCredentials

from protected_resource import metadata_url, resource_url

MAX_BODY_BYTES = 4 * 1024 * 1024  # a tool call is small; refuse to buffer more than this
# What a tool missing from tool_scopes needs: a scope no issuer grants. Its own name, never the
# tool's: a tool name comes from the request, and the scopes go into a header.
UNLISTED_TOOL_SCOPE = "tool:unlisted"


class BearerAuthMiddleware:
    """Require a valid bearer token on every path under `protected_paths`, and the scopes each call needs."""

    def __init__(self, app, *, verifier_for: Callable[[str], TokenVerifier], required_scopes: list[str],
                 tool_scopes: Mapping[str, list[str]], protected_paths: list[str] | None = None,
                 resource: str | None = None, endpoint: str = "/mcp") -> None:
        self.app = app
        self.verifier_for = verifier_for  # resource URL -> the verifier that expects it as audience
        self.required_scopes = list(required_scopes)  # needed for any request at all
        self.tool_scopes = dict(tool_scopes)  # tool name -> every scope calling it needs
        self.protected_paths = protected_paths or [endpoint]
        self.resource, self.endpoint = resource, endpoint
        self._verifiers: dict[str, TokenVerifier] = {}

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not self._is_protected(scope):
            await self.app(scope, receive, send)
            return

        token = bearer_token(scope)
        if token is None:
            # No credentials (or not in the Authorization header): a challenge, no error code.
            await self._challenge(scope, send, 401, None, "Authentication required: send an access token "
                                  "in the Authorization header (Bearer).", self.required_scopes)
            return

        access = await self._verifier(scope).verify_token(token)
        if access is None:
            await self._challenge(scope, send, 401, "invalid_token", "The access token is invalid, expired, "
                                  "or not meant for this server.", self.required_scopes)
            return
        if not has_scopes(access, self.required_scopes):
            await self._challenge(scope, send, 403, "insufficient_scope", "The access token lacks a scope "
                                  "this server needs.", self.required_scopes)
            return

        if scope["method"] == "POST":
            body = await read_body(receive)
            if body is None:
                await _json(send, 413, {"detail": "Request body too large."})
                return
            for tool in tools_called(body):
                needed = self.scopes_for_tool(tool)
                if not has_scopes(access, needed):
                    await self._challenge(scope, send, 403, "insufficient_scope",
                                          "The access token lacks a scope this tool needs.", needed)
                    return
            receive = replay(body, receive)

        # Where the SDK looks: the session manager binds a new session to this user
        # and refuses the session to anyone else; get_access_token() reads it in tools.
        scope["user"] = AuthenticatedUser(access)
        scope["auth"] = AuthCredentials(access.scopes)
        if scope["method"] == "GET" and access.expires_at is not None:
            # A GET opens a stream that lasts as long as the client likes: not past its token.
            await serve_until(access.expires_at, self.app, scope, receive, send)
            return
        await self.app(scope, receive, send)

    def scopes_for_tool(self, tool: str) -> list[str]:
        """Every scope calling TOOL needs. A tool nobody listed needs a scope nobody has: fail closed."""
        return self.tool_scopes.get(tool, [*self.required_scopes, UNLISTED_TOOL_SCOPE])

    def _verifier(self, scope) -> TokenVerifier:
        audience = resource_url(scope, self.resource, self.endpoint)
        if audience not in self._verifiers:
            if len(self._verifiers) >= 16:  # one or two in practice; never let requests grow it without bound
                self._verifiers.clear()
            self._verifiers[audience] = self.verifier_for(audience)
        return self._verifiers[audience]

    def _is_protected(self, scope) -> bool:
        # Behind a reverse proxy, scope["path"] includes scope["root_path"]: route on what is left.
        path, root = scope["path"], scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):] or "/"
        return any(path == prefix or path.startswith(prefix.rstrip("/") + "/") for prefix in self.protected_paths)

    async def _challenge(self, scope, send, status: int, error: str | None, description: str,
                         scopes: list[str]) -> None:
        await _json(send, status, {"error": error, "error_description": description} if error
                    else {"detail": description},
                    challenge=www_authenticate(error, description if error else None, scopes,
                                               metadata_url(scope, self.resource, self.endpoint)))


def www_authenticate(error: str | None, description: str | None, scopes: list[str], metadata: str) -> str:
    """The Bearer challenge (RFC 6750 section 3), pointing at the metadata (RFC 9728 section 5.1)."""
    params = []
    if error:  # only when a token was presented: a request without credentials gets no error code
        params += [f"error={quoted(error)}", f"error_description={quoted(description or '')}"]
    params += [f"resource_metadata={quoted(metadata)}", f"scope={quoted(' '.join(scopes))}"]
    return "Bearer " + ", ".join(params)


def quoted(value: str) -> str:
    """VALUE as an RFC 9110 quoted-string: `"` and `\\` escaped, and nothing but visible ASCII,
    space and tab (a line break would start a new header; other bytes each client decodes its own way)."""
    text = "".join(char if char == "\t" or " " <= char <= "~" else "?" for char in value)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def bearer_token(scope) -> str | None:
    """The token from `Authorization: Bearer <token>`, and from nowhere else.

    Not from the query string (it lands in access logs, browser history and the
    Referer header; the MCP specification forbids it), not from a cookie or another
    header. Two Authorization headers are refused: layers disagree on which one counts.
    """
    values = [value for name, value in scope["headers"] if name == b"authorization"]
    if len(values) != 1:
        return None if not values else ""  # "" is a token, and an invalid one
    scheme, _, token = values[0].decode("latin-1").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip()


def has_scopes(access: AccessToken, needed: list[str]) -> bool:
    return set(needed) <= set(access.scopes)


def tools_called(body: bytes) -> list[str]:
    """The names of the tools a JSON-RPC body calls (tools/call), in either protocol era.

    The body is what the server will run, so the scope check reads the body, not a
    header that merely describes it.
    """
    try:
        message = json.loads(body)
    except ValueError:
        return []  # not JSON: the MCP app answers with a parse error, and runs nothing
    messages = message if isinstance(message, list) else [message]
    names = []
    for item in messages:
        if isinstance(item, dict) and item.get("method") == "tools/call":
            params = item.get("params")
            name = params.get("name") if isinstance(params, dict) else None
            names.append(name if isinstance(name, str) else "")
    return names


async def read_body(receive) -> bytes | None:
    """The whole request body, or None when it is larger than MAX_BODY_BYTES."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def replay(body: bytes, receive):
    """A receive() that hands the app the body already read, then whatever comes next (a disconnect)."""
    sent = False

    async def receive_again():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return receive_again


async def serve_until(deadline: float, app, scope, receive, send) -> None:
    """Run APP for this request until DEADLINE (a Unix time, the token's exp), then end its response.

    At the deadline the app hears that the client left (http.disconnect): the SDK's event
    stream stops as it does for a real disconnect. The response is then ended cleanly,
    and the client, which reconnects, must bring a token that is valid now.
    """
    started = finished = False

    async def receive_until():
        remaining = deadline - time.time()
        if remaining > 0:
            with anyio.move_on_after(remaining):
                return await receive()
        return {"type": "http.disconnect"}

    async def send_noting(message) -> None:
        nonlocal started, finished
        started = started or message["type"] == "http.response.start"
        finished = finished or (message["type"] == "http.response.body" and not message.get("more_body", False))
        await send(message)

    await app(scope, receive_until, send_noting)
    if started and not finished:
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _json(send, status: int, content: dict, challenge: str | None = None) -> None:
    body = json.dumps(content).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if challenge:
        headers.append((b"www-authenticate", challenge.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
