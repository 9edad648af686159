"""The guard: a pure ASGI middleware that checks an API key against the key store.

For every request under the protected paths it
1. reads the X-API-Key header (exactly one),
2. checks the key's shape and checksum (no database for garbage),
3. looks the key up by its id and compares keyed hashes in constant time,
4. refuses with 401 and a challenge, or with 429 and Retry-After after too many failures,
5. or hands the request on with the caller in scope["state"]["caller"],
   where the MCP layer (tool_rights.py) and the tools find it.
"""

from __future__ import annotations

import json

from audit import AuditLog
from key_format import parse_key
from key_store import KeyRefused, KeyStore
from rate_limit import FailureLimiter

MESSAGES = {
    "missing": "Missing API key. Send it in the {header} header.",
    "malformed": "Malformed API key: it is not a key this server issued. Check for a typo or a truncated copy.",
    "invalid": "Invalid API key.",
    "expired": "This API key has expired. Use the key it was rotated to, or ask for a new one.",
    "revoked": "This API key has been revoked.",
}


class ApiKeyAuthMiddleware:
    def __init__(self, app, *, store: KeyStore, limiter: FailureLimiter, audit: AuditLog,
                 protected_paths: list[str] | None = None, header: str = "X-API-Key") -> None:
        self.app, self.store, self.limiter, self.audit = app, store, limiter, audit
        self.header = header
        self.protected_paths = protected_paths or ["/mcp"]
        self._header_name = header.lower().encode("latin-1")

    async def __call__(self, scope, receive, send) -> None:
        # Lifespan (and anything that is not an HTTP request) goes straight through.
        if scope["type"] != "http" or not self._is_protected(scope):
            await self.app(scope, receive, send)
            return

        presented = [value for name, value in scope["headers"] if name == self._header_name]
        if not presented:
            await self._fail(scope, receive, send, "missing")
            return
        parsed = parse_key(presented[0]) if len(presented) == 1 else None
        if parsed is None:
            await self._fail(scope, receive, send, "malformed" if len(presented) == 1 else "invalid")
            return
        try:
            caller = self.store.authenticate(parsed)
        except KeyRefused as refused:
            await self._fail(scope, receive, send, refused.reason, key_id=parsed.key_id)
            return

        self.store.record_use(caller.key_id)
        # A new scope for the app: the caller travels with the request, into the MCP layer.
        state = {**scope.get("state", {}), "caller": caller}
        await self.app({**scope, "state": state}, receive, send)

    def _is_protected(self, scope) -> bool:
        # Behind a reverse proxy, scope["path"] includes scope["root_path"]: route on what is left.
        path, root = scope["path"], scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):] or "/"
        return any(path == prefix or path.startswith(prefix.rstrip("/") + "/") for prefix in self.protected_paths)

    async def _fail(self, scope, receive, send, reason: str, key_id: str | None = None) -> None:
        """Count the failure, write it down, and refuse: 429 once there were too many, else 401."""
        address = scope["client"][0] if scope.get("client") else "unknown"
        retry_after = self.limiter.failed(address, key_id)
        self.audit.write(key_id=key_id, client=address, method=f"{scope['method']} {scope['path']}", tool=None,
                         outcome=f"throttled ({reason})" if retry_after is not None else f"refused ({reason})")
        if retry_after is not None:
            await self._respond(send, 429, f"Too many failed attempts. Retry after {retry_after} s.",
                                [(b"retry-after", str(retry_after).encode())])
            return
        # RFC 9110: a 401 names the scheme the client should use.
        challenge = f'ApiKey header="{self.header}"'.encode()
        await self._respond(send, 401, MESSAGES[reason].format(header=self.header),
                            [(b"www-authenticate", challenge)])

    async def _respond(self, send, status: int, detail: str, headers: list[tuple[bytes, bytes]]) -> None:
        body = json.dumps({"detail": detail}).encode()
        await send({
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()), *headers],
        })
        await send({"type": "http.response.body", "body": body})
