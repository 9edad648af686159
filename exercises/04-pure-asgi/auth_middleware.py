"""API key authentication as a pure ASGI middleware.

A pure ASGI middleware is a callable that takes (scope, receive, send) and
either answers the request itself or hands the three on untouched. Nothing is
buffered and no task sits in between, so streaming responses (the MCP event
streams) pass through as they are. Starlette's BaseHTTPMiddleware, by contrast,
runs the app in a task of its own and relays each message through a stream:
an extra task and hop on every request.
"""

from __future__ import annotations

import hmac
import json


class ApiKeyAuthMiddleware:
    """Require a valid X-API-Key header on every path under `protected_paths`.

    For production, also consider: several active keys for rotation, keys stored
    as hashes, per-key rate limits and audit logs, and, once you need to know
    *who* calls, OAuth 2.1 bearer tokens (the MCP authorization specification).
    """

    def __init__(self, app, api_key: str, protected_paths: list[str] | None = None,
                 header: str = "X-API-Key") -> None:
        # TODO: fail closed. What would this guard let in if api_key were ""?
        self.app = app
        self.header = header
        self.protected_paths = protected_paths or ["/mcp"]
        # ASGI header names are lower-case bytes; values are the raw bytes sent.
        self._header_name = header.lower().encode("latin-1")
        self._key = api_key.encode()

    async def __call__(self, scope, receive, send) -> None:
        # TODO: not every scope is an HTTP request. Which ones must reach the wrapped
        #       app untouched, and what breaks in the MCP app when they do not?
        if not self._is_protected(scope):
            await self.app(scope, receive, send)
            return

        # TODO: collect every value the request carries for the key header, repeats
        #       included. ASGI hands headers over as (name, value) byte pairs, names
        #       already lower-case.
        # TODO: no value at all: refuse with a message that says the key is missing.
        # TODO: more than one value, or a value that is not the key: refuse with "Invalid API key."
        #       Compare as stage 01 taught: on bytes, in constant time, the key you
        #       hold as the second argument (lesson 01 says why that order).
        await self.app(scope, receive, send)

    def _is_protected(self, scope) -> bool:
        # Behind a reverse proxy, scope["path"] includes scope["root_path"]: route on what is left.
        path, root = scope["path"], scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):] or "/"
        return any(path == prefix or path.startswith(prefix.rstrip("/") + "/") for prefix in self.protected_paths)

    async def _refuse(self, scope, receive, send, detail: str) -> None:
        # TODO: refuse as HTTP asks (RFC 9110): a 401 with a JSON body that carries the
        #       detail, and a WWW-Authenticate header naming the scheme. A pure ASGI
        #       app has no Response object: it passes two messages to send(), the
        #       response's start (status, headers as lower-case byte pairs), then its body.
        raise NotImplementedError("_refuse is a TODO")
