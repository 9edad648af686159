"""The guard: a pure ASGI middleware that checks an API key against the key store.

For every request under the protected paths it
1. reads the X-API-Key header (exactly one),
2. checks the key's shape and checksum (no database for garbage),
3. looks the key up by its id and compares keyed hashes in constant time,
4. refuses with 401 and a challenge, or with 429 and Retry-After after too many failures,
5. or hands the request on with the caller in scope["state"]["caller"],
   where the MCP layer (tool_rights.py) and the tools find it, and in
   scope["user"], the principal the MCP SDK binds each session to.
A GET stream it lets through ends within seconds of its key ending
(revoked, expired, or rotated and past its grace): see serve_while.

The client address is the TCP peer (scope["client"]): serve with uvicorn's
--no-proxy-headers unless a reverse proxy you run sets X-Forwarded-For
(then --forwarded-allow-ips=<that proxy>), or any local process picks its
own address, past the failure limit and into the audit log.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from functools import lru_cache, partial

import anyio
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken

from audit import AuditLog
from key_format import parse_key
from key_store import Caller, KeyRefused, KeyStore
from rate_limit import FailureLimiter

QUIET_ENTRIES = 10_000  # throttled addresses and key ids remembered at once, before the expired ones are dropped
STREAM_CHECK_SECONDS = 2.0  # how often an open stream asks the store whether its key still works

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
        # Until when a throttled address or key id is not written down again: {("address", a): monotonic time}.
        self._quiet: dict[tuple[str, str], float] = {}

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

        self.store.record_use(caller.key_id)  # counted in memory: no disk write while the client waits
        # A new scope for the app: the caller travels with the request, into the MCP layer. scope["user"]
        # is whom the SDK binds a session to: a session opened with one key is "not found" with any other.
        state = {**scope.get("state", {}), "caller": caller}
        scope = {**scope, "state": state, "user": principal(caller)}
        if scope["method"] == "GET":
            # A GET opens a stream that lasts as long as the client likes: not past its key.
            await serve_while(partial(self.store.is_active, caller.key_id), self.app, scope, receive, send)
            return
        await self.app(scope, receive, send)

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
        entry = dict(key_id=key_id, client=address, method=f"{scope['method']} {scope['path']}", tool=None)
        if retry_after is None:
            self.audit.write(**entry, outcome=f"refused ({reason})")
        elif self._first_of_burst(retry_after, ("address", address), ("key", key_id or "")):
            # One line per throttled burst: a scanner must not be able to fill the disk through the log.
            self.audit.write(**entry, outcome=f"throttled ({reason}); more from here unlogged for {retry_after} s")
        if retry_after is not None:
            await self._respond(send, 429, f"Too many failed attempts. Retry after {retry_after} s.",
                                [(b"retry-after", str(retry_after).encode())])
            return
        # RFC 9110: a 401 names the scheme the client should use.
        challenge = f'ApiKey header="{self.header}"'.encode()
        await self._respond(send, 401, MESSAGES[reason].format(header=self.header),
                            [(b"www-authenticate", challenge)])

    def _first_of_burst(self, seconds: int, *names: tuple[str, str]) -> bool:
        """Whether a throttled request starts a burst (write it down), for its address and its key id."""
        now = time.monotonic()
        names = tuple(name for name in names if name[1])
        if any(self._quiet.get(name, 0.0) > now for name in names):
            return False
        if len(self._quiet) >= QUIET_ENTRIES:  # memory stays bounded too: forget the bursts that are over
            self._quiet = {name: until for name, until in self._quiet.items() if until > now}
        for name in names:
            self._quiet[name] = now + seconds
        return True

    async def _respond(self, send, status: int, detail: str, headers: list[tuple[bytes, bytes]]) -> None:
        body = json.dumps({"detail": detail}).encode()
        await send({
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()), *headers],
        })
        await send({"type": "http.response.body", "body": body})


async def serve_while(still_valid: Callable[[], bool], app, scope, receive, send) -> None:
    """Run APP for this request while STILL_VALID() says yes, asked every STREAM_CHECK_SECONDS; then end it.

    STILL_VALID reads the key store, so it runs in a worker thread: the event loop goes on
    serving everyone else meanwhile. Only a request that stays open asks, while the app
    waits to hear from the client. When the key has ended, the app hears that the client
    left (http.disconnect): the SDK's event stream stops as it does for a real disconnect.
    The response is then ended cleanly, and the client, which reconnects, must bring a key
    that is valid now.
    """
    started = finished = ended = False

    async def receive_while():
        nonlocal ended
        while not ended:
            with anyio.move_on_after(STREAM_CHECK_SECONDS):
                return await receive()
            ended = not await anyio.to_thread.run_sync(still_valid)
        return {"type": "http.disconnect"}

    async def send_noting(message) -> None:
        nonlocal started, finished
        started = started or message["type"] == "http.response.start"
        finished = finished or (message["type"] == "http.response.body" and not message.get("more_body", False))
        await send(message)

    await app(scope, receive_while, send_noting)
    if started and not finished:
        await send({"type": "http.response.body", "body": b"", "more_body": False})


@lru_cache(maxsize=1024)  # one object per key, not one per request: it is never changed once made
def principal(caller: Caller) -> AuthenticatedUser:
    """The caller as the MCP SDK identifies a session's owner: the key id, then the client's name."""
    return AuthenticatedUser(AccessToken(token=caller.key_id, client_id=caller.key_id, subject=caller.client,
                                         scopes=sorted(caller.tools)))
