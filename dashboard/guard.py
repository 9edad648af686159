"""The protections, each as its stage teaches it (lessons/dashboard/README.md has the table).

- HostOriginGuard (stages 03-04): a pure ASGI middleware in front of everything. A Host outside the
  allow-list gets 421 (a DNS-rebinding page reaches us under its own name); an Origin that is not this
  very server gets 403 (another page in the instructor's browser, or a student's, posting here).
- Limiter (stage 05): with the pinned `limits` library, a moving window per student key on reports
  (a flood from one key gets 429 with Retry-After) and one per client address on failed credentials.
- challenge() (stages 01 and 06): every 401 names the scheme to use, RFC 6750's Bearer, and says what
  was wrong with the key presented (invalid_token) or nothing when there was none.
- Sessions: the instructor's browser logs in once with the instructor key and gets a random session id
  in an HttpOnly (no script reads it), SameSite=Strict (no other site's page sends it) cookie; the
  server keeps only its hash, and forgets it on restart or after SESSION_SECONDS.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import math
import re
import secrets
import time
from functools import partial
from urllib.parse import urlsplit

from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

REALM = "dashboard"
SESSION_COOKIE = "dashboard_session"
SESSION_SECONDS = 12 * 3600  # a teaching day
LOOPBACK = {"localhost", "127.0.0.1", "::1"}
PORT = re.compile(r"(:[0-9]*)?")
SECURITY_HEADERS = [
    # No inline script or style, nothing from elsewhere (offline, and no injected <script> could run),
    # never inside another site's frame.
    (b"content-security-policy", b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                                 b"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    # same-origin, not no-referrer: with no-referrer a browser sends "Origin: null" on the login form's POST.
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]


def host_name(value: str) -> str:
    """The name in a Host header or an Origin's netloc, without the port; brackets off an IPv6 address.
    After the name comes a port or nothing: "[::1].evil.example" or "127.0.0.1:evil" is no name at all ("")."""
    value = value.strip().lower()
    if value.startswith("["):
        name, closed, rest = value[1:].partition("]")
        if not closed:
            return ""
    elif value.count(":") == 1:
        name, rest = value.split(":")[0], value[value.find(":"):]
    else:
        return value  # a name without a port, or an IPv6 address without brackets
    return name if PORT.fullmatch(rest) else ""


def allowed_hosts(bind: str, extra: list[str] = ()) -> set[str]:
    hosts = set(LOOPBACK) | {host_name(name) for name in extra}
    try:
        if not ipaddress.ip_address(bind).is_unspecified:  # 0.0.0.0 is where we listen, never a name we have
            hosts.add(host_name(bind))
    except ValueError:
        hosts.add(host_name(bind))
    return hosts - {""}  # what a malformed name becomes: never a name we answer to


class HostOriginGuard:
    """Refuse a request whose Host is not ours (421) or whose Origin is another site (403), before anything."""

    def __init__(self, app, hosts: set[str], audit, limiter: Limiter | None = None) -> None:
        self.app, self.hosts, self.audit, self.limiter = app, hosts, audit, limiter or Limiter()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = [(name, value.decode("latin-1")) for name, value in scope["headers"]]
        host = [value for name, value in headers if name == b"host"]
        origin = [value for name, value in headers if name == b"origin"]
        refusal = None
        if len(host) != 1 or host_name(host[0]) not in self.hosts:
            refusal = 421, "Misdirected request: this dashboard does not answer to that Host."
        elif origin and (len(origin) != 1 or not same_origin(origin[0], host[0])):
            refusal = 403, "Forbidden: requests from another site's page are refused (Origin)."
        if refusal is None:
            await self.app(scope, receive, partial(with_security_headers, send))
            return
        client = scope["client"][0] if scope.get("client") else "unknown"
        note = self.limiter.audit_note(client)
        if note is not None:
            self.audit.write(action=f"{scope['method']} {scope['path']}", client=client,
                             outcome=f"refused ({'Host' if refusal[0] == 421 else 'Origin'}: "
                                     f"{(host + origin)[-1][:100] if host + origin else 'none'}){note}")
        await respond(send, refusal[0], refusal[1])


async def with_security_headers(send, message) -> None:
    """Every answer carries SECURITY_HEADERS, unless it set one of them itself (the exports do)."""
    if message["type"] == "http.response.start":
        own = {name.lower() for name, _ in message.get("headers", [])}
        message = {**message, "headers": [*message.get("headers", []),
                                          *[(name, value) for name, value in SECURITY_HEADERS if name not in own]]}
    await send(message)


def same_origin(origin: str, host: str) -> bool:
    """ORIGIN is this server as the browser reached it: http(s)://<the Host header>."""
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host.strip().lower() and not parts.path


async def respond(send, status: int, detail: str, headers: list[tuple[bytes, bytes]] = ()) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *SECURITY_HEADERS, *headers]})
    await send({"type": "http.response.body", "body": body})


def challenge(reason: str | None = None, realm: str = REALM) -> str:
    """RFC 6750: the scheme and realm always; what was wrong with the token when one was presented."""
    if reason in (None, "missing"):
        return f'Bearer realm="{realm}"'
    return f'Bearer realm="{realm}", error="invalid_token", error_description="{reason} key"'


class Limiter:
    def __init__(self, reports: str = "60/minute", failures: str = "30/minute") -> None:
        self.reports, self.failures = parse(reports), parse(failures)
        self.limiter = MovingWindowRateLimiter(storage_from_string("memory://"))
        self._quiet: dict[str, float] = {}

    def report(self, key_id: str) -> int | None:
        """One report from KEY_ID: None when allowed, else the seconds until the next one is."""
        return None if self.limiter.hit(self.reports, "report", key_id) else self._retry(self.reports, "report",
                                                                                         key_id)

    def failure(self, address: str) -> int | None:
        return None if self.limiter.hit(self.failures, "failure", address) else self._retry(self.failures,
                                                                                             "failure", address)

    def audit_note(self, address: str) -> str | None:
        """A refusal no other limit counts (Host, Origin, a student key reading, an oversized login): "" to
        audit it as usual, up to the failure limit per address; past it, a note on the first of the burst
        and None (not audited) for the rest, so nobody fills the disk through the log with them."""
        if self.limiter.hit(self.failures, "refusal", address):
            return ""
        seconds = self._retry(self.failures, "refusal", address)
        return f"; more unlogged for {seconds} s" if self.first_of_burst(f"refusals {address}", seconds) else None

    def _retry(self, item, *ids: str) -> int:
        reset_at, _ = self.limiter.get_window_stats(item, *ids)
        return max(1, math.ceil(reset_at - time.time()))

    def first_of_burst(self, name: str, seconds: int) -> bool:
        """Whether a throttled request starts a burst: only that one is written to the audit log."""
        now = time.monotonic()
        if self._quiet.get(name, 0.0) > now:
            return False
        if len(self._quiet) > 10_000:
            self._quiet = {key: until for key, until in self._quiet.items() if until > now}
        self._quiet[name] = now + seconds
        return True


class Sessions:
    """The instructor's logged-in browsers: random ids, kept as hashes, with an end."""

    def __init__(self) -> None:
        self._ends: dict[str, float] = {}

    def open(self) -> str:
        session = secrets.token_urlsafe(32)
        self._ends[hashlib.sha256(session.encode()).hexdigest()] = time.time() + SESSION_SECONDS
        return session

    def valid(self, session: str | None) -> bool:
        if not session:
            return False
        # A dict lookup by the hash of the cookie: what the timing could tell is about the hash, not the cookie.
        end = self._ends.get(hashlib.sha256(session.encode()).hexdigest())
        return end is not None and end > time.time()

    def close(self, session: str | None) -> None:
        if session:
            self._ends.pop(hashlib.sha256(session.encode()).hexdigest(), None)
