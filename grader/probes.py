"""Real HTTP requests against a running server, described the way a student reads them."""

from __future__ import annotations

import http.client
import json
import ssl
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

import httpx

from grader.harness import Server
from grader.verdict import CheckFailed, blocked_by

REQUEST_TIMEOUT = 5.0
KEY_HEADER = "X-API-Key"


@dataclass(frozen=True)
class Probe:
    """One request: method, path (and query), headers as (name, value) pairs, optional body.

    The body is JSON (a dict) or bytes written by hand; it goes as application/json unless
    the headers name a Content-Type of their own."""

    method: str
    path: str
    headers: tuple[tuple[str, str | bytes], ...] = ()
    body: dict | bytes | None = None
    note: str = ""  # how the request was built, in words ("no X-API-Key header")
    raw: bool = False  # send the path byte for byte (httpx would normalise "/a/../b")
    shown_path: str = ""  # the path as reports show it, when the real one holds a secret
    outcome: str = ""  # what a secure server does with it, in words ("refused")
    source: str = ""  # a loopback address to send from (127.0.0.2, ...): a real, distinct client address

    @property
    def title(self) -> str:
        return self.describe() + (f" is {self.outcome}" if self.outcome else "")

    def with_key(self, key: str) -> "Probe":
        """The same request carrying exactly one right X-API-Key header."""
        headers = tuple((name, value) for name, value in self.headers if name.lower() != KEY_HEADER.lower())
        return Probe(self.method, self.path, (*headers, (KEY_HEADER, key)), self.body,
                     note=f"{KEY_HEADER}: the key", raw=self.raw)

    def describe(self) -> str:
        shown = self.note or ", ".join(f"{name}: {_show(value)}" for name, value in self.headers) or "no headers"
        return f"{self.method} {self.shown_path or self.path} ({shown})" + (f" from {self.source}" if self.source else "")


def _show(value: str | bytes) -> str:
    if isinstance(value, bytes):
        return repr(value)
    return repr(value) if value == "" else value


@dataclass
class Answer:
    status: int
    headers: httpx.Headers
    body: str
    first_event: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def challenge(self) -> str | None:
        return self.headers.get("www-authenticate")

    @property
    def is_event_stream(self) -> bool:
        return self.headers.get("content-type", "").startswith("text/event-stream")

    def describe(self) -> str:
        reason = httpx.codes.get_reason_phrase(self.status)
        parts = [f"{self.status} {reason}".strip()]
        if self.status == 401:
            parts.append(f"WWW-Authenticate: {self.challenge}" if self.challenge else "no WWW-Authenticate header")
        if self.is_event_stream:
            event = self.first_event if len(self.first_event) <= 100 else self.first_event[:100] + "..."
            parts.append(f"event stream, first event {event!r}" if event else "event stream")
        elif self.body:
            body = " ".join(self.body.split())  # one line, whatever the markup
            body = body if len(body) <= 160 else body[:160] + "..."
            parts.append(f"body {body}")
        return ", ".join(parts)


def ensure_answering(server: Server) -> None:
    """Skip (as not passed) once the server has hung: every later request would hang too."""
    if server.hung:
        blocked_by(f"the server stopped answering earlier ({server.hung})")


_client: httpx.Client | None = None


def _shared_client() -> httpx.Client:
    """One client for every probe: building one per request costs more than the request."""
    global _client
    if _client is None:
        # trust_env=False: a proxy set in the environment must never stand between the grader and loopback.
        _client = httpx.Client(timeout=REQUEST_TIMEOUT, trust_env=False)
    return _client


def _client_from(address: str) -> httpx.Client:
    """A client whose requests leave from ADDRESS (another 127.x.y.z: another client to a rate limiter).

    Built per probe, so built cheaply: one TLS context for all of them (a default transport loads the
    CA bundle, about 30 ms, for servers that only ever speak plain HTTP on loopback), and no proxy
    settings read from the environment."""
    global _tls
    if _tls is None:
        _tls = ssl.create_default_context()
    return httpx.Client(timeout=REQUEST_TIMEOUT, trust_env=False,
                        transport=httpx.HTTPTransport(local_address=address, verify=_tls))


_tls: ssl.SSLContext | None = None


def send(server: Server, probe: Probe, *, base_path: str = "") -> Answer:
    """Send PROBE to SERVER. An event stream is read up to its first event, then closed."""
    ensure_answering(server)
    if probe.raw:
        return _send_raw(server, probe, base_path)
    url = server.base_url + base_path + probe.path
    content = probe.body if isinstance(probe.body, bytes) else (
        json.dumps(probe.body).encode() if probe.body is not None else None)
    headers = list(probe.headers)
    if content is not None and not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))
    with answered_or_explained(server, probe.method, probe.path, probe.describe()), ExitStack() as stack:
        client = _shared_client() if not probe.source else stack.enter_context(_client_from(probe.source))
        with client.stream(probe.method, url, headers=headers, content=content) as response:
            answer = Answer(response.status_code, response.headers, "")
            if answer.is_event_stream:
                try:
                    answer.first_event = _first_event(response)
                except httpx.ReadTimeout:
                    # The answer (status, headers) came; a stream that stays quiet is not a hang.
                    answer.first_event = "(none yet)"
            else:
                answer.body = response.read().decode(errors="replace")
            return answer


@contextmanager
def answered_or_explained(server: Server, method: str, path: str, described: str):
    """Turn a request that got no answer into what a student reads: what was sent, what came back.

    A timeout marks the server as hung, so every later check skips it at once
    instead of waiting out the same timeout again. The reference's own failure to answer
    (a machine under load, say) is never the student's: the check is blocked, not failed."""
    try:
        yield
    except (httpx.TimeoutException, TimeoutError, httpx.TransportError, OSError) as error:
        if server.label.startswith("reference"):
            blocked_by(f"the reference server gave no answer to {described} ({error.__class__.__name__}); "
                       "this is the grader's problem or the machine's, not your code's: run the grader again")
        if isinstance(error, (httpx.TimeoutException, TimeoutError)):
            server.hung = f"no answer to {method} {path} within {REQUEST_TIMEOUT:.0f} s"
            raise CheckFailed(
                sent=described, got=f"no answer within {REQUEST_TIMEOUT:.0f} s", expected="an answer",
                hint="something in the request path blocks forever; look for a loop, a lock or a blocking call "
                     "(time.sleep, a synchronous request) in your middleware") from None
        raise CheckFailed(
            sent=described, got=f"the connection failed ({error.__class__.__name__}: {error})",
            expected="an HTTP answer", hint=f"the server may have crashed; its log:\n{tail(server.log())}") from None


def _send_raw(server: Server, probe: Probe, base_path: str) -> Answer:
    """http.client sends the request target exactly as given: dot segments and all."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=REQUEST_TIMEOUT,
                                            source_address=(probe.source, 0) if probe.source else None)
    try:
        with answered_or_explained(server, probe.method, probe.path, probe.describe()):
            connection.putrequest(probe.method, base_path + probe.path, skip_accept_encoding=True)
            for name, value in probe.headers:
                connection.putheader(name, value)
            connection.endheaders()
            response = connection.getresponse()
            headers = httpx.Headers(response.getheaders())
            answer = Answer(response.status, headers, "")
            if answer.is_event_stream:
                answer.first_event = response.fp.readline().decode(errors="replace").strip()
            else:
                answer.body = response.read().decode(errors="replace")
            return answer
    finally:
        connection.close()


@contextmanager
def live_session(server: Server, key: str, base_path: str = ""):
    """Open an SSE stream with the key and yield the message path it advertises (with its session id).

    While the stream stays open the session is live: exactly what an attacker who
    read a session id from an access log would post to.
    """
    ensure_answering(server)
    path = base_path + "/mcp/sse"
    with ExitStack() as stack:
        with answered_or_explained(server, "GET", path, f"GET {path} with the key (X-API-Key), to open a session"):
            response = stack.enter_context(_shared_client().stream("GET", server.base_url + path,
                                                                   headers={KEY_HEADER: key}))
        if response.status_code != 200:
            blocked_by(f"an SSE stream with the key could not be opened (got {response.status_code})")
        # Keep the line iterator alive: dropping it closes the connection, and the session with it.
        lines = response.iter_lines()
        try:
            event = _first_event(lines)
        except httpx.ReadTimeout:
            blocked_by(f"the SSE stream with the key sent no event within {REQUEST_TIMEOUT:.0f} s")
        data = [part.removeprefix("data: ").strip() for part in event.split(" / ") if part.startswith("data:")]
        if not data or "session_id=" not in data[0]:
            blocked_by(f"the SSE stream did not advertise a message endpoint (first event {event!r})")
        yield data[0]
        del lines


def _first_event(source) -> str:
    """The first complete SSE event (e.g. 'event: endpoint / data: /mcp/messages/?session_id=...')."""
    lines: list[str] = []
    for line in (source.iter_lines() if isinstance(source, httpx.Response) else source):
        if line == "" and lines:
            break
        if line:
            lines.append(line)
    return " / ".join(lines)


def tail(text: str, lines: int = 25) -> str:
    kept = text.strip().splitlines()[-lines:]
    return "\n".join("    | " + line for line in kept) if kept else "    | (no output)"
