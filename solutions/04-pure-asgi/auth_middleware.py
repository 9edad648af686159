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
        if not api_key:
            # Fail closed: a guard without a key would compare against "" and let
            # an empty header in. Refuse to build one.
            raise ValueError("ApiKeyAuthMiddleware needs a non-empty api_key")
        self.app = app
        self.header = header
        self.protected_paths = protected_paths or ["/mcp"]
        # ASGI header names are lower-case bytes; values are the raw bytes sent.
        self._header_name = header.lower().encode("latin-1")
        self._key = api_key.encode()

    async def __call__(self, scope, receive, send) -> None:
        # Lifespan (and anything else that is not an HTTP request) goes straight
        # through: the MCP session manager starts in the lifespan.
        if scope["type"] != "http" or not self._is_protected(scope):
            await self.app(scope, receive, send)
            return

        presented = [value for name, value in scope["headers"] if name == self._header_name]
        if not presented:
            await self._refuse(scope, receive, send, f"Missing API key. Send it in the {self.header} header.")
            return
        if len(presented) > 1 or not hmac.compare_digest(presented[0], self._key):
            # One message for every wrong key: no hint about how close a guess was.
            await self._refuse(scope, receive, send, "Invalid API key.")
            return
        await self.app(scope, receive, send)

    def _is_protected(self, scope) -> bool:
        # Behind a reverse proxy, scope["path"] includes scope["root_path"]: route on what is left.
        path, root = scope["path"], scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):] or "/"
        return any(path == prefix or path.startswith(prefix.rstrip("/") + "/") for prefix in self.protected_paths)

    async def _refuse(self, scope, receive, send, detail: str) -> None:
        body = json.dumps({"detail": detail}).encode()
        await send({
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                # RFC 9110: a 401 names the scheme the client should use.
                (b"www-authenticate", f'ApiKey header="{self.header}"'.encode()),
            ],
        })
        await send({"type": "http.response.body", "body": body})
