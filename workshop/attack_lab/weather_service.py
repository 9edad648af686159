"""The upstream weather service the lab server calls, and a listener that records what reaches it.

The lab server holds a credential for this service (UPSTREAM_TOKEN) and sends it on every
request it makes there. The service answers only requests that carry it.

    python -m workshop.attack_lab.weather_service   # serve it on a free port, print its URL

`start()` runs one in a thread of the calling process (the grader, `make serve`, a test);
`start(token=None)` runs a listener instead: it answers every request and records it, as an
attacker's server would (an exploit uses one to catch what a confused server sends it).
"""

from __future__ import annotations

import hmac
import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PLACES = {"new-york": "New York", "chicago": "Chicago", "seattle": "Seattle"}


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class Service:
    url: str
    seen: list[Seen] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    def authorizations(self) -> list[str]:
        """Every Authorization header that reached it."""
        return [request.headers.get("authorization", "") for request in self.seen]

    def stop(self) -> None:
        RUNNING.pop(self.url, None)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def _handler(service: Service, token: str | None, note: str):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # quiet: what it saw is in service.seen
            pass

        def _answer(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            service.seen.append(Seen("GET", self.path, {k.lower(): v for k, v in self.headers.items()}))
            if token is None:  # a listener: it takes whatever comes
                return self._answer(200, {"ok": True})
            presented = self.headers.get("Authorization", "").encode()
            if not hmac.compare_digest(presented, f"Bearer {token}".encode()):
                return self._answer(401, {"error": "invalid_token"}, {"WWW-Authenticate": 'Bearer realm="weather"'})
            if self.path == "/forecasts":
                return self._answer(200, {"forecasts": [f"{service.url}/forecast/{slug}" for slug in PLACES]})
            slug = self.path.removeprefix("/forecast/")
            if self.path.startswith("/forecast/") and slug in PLACES:
                return self._answer(200, {"place": PLACES[slug], "forecast": f"Sunny, 21 C, light wind. {note}".strip()})
            return self._answer(404, {"error": "no such forecast"})

    return Handler


class _Six(ThreadingHTTPServer):
    address_family = socket.AF_INET6


# Every service this process started, by URL: whoever started one can look at what reached it.
RUNNING: dict[str, Service] = {}


def start(token: str | None, note: str = "", host: str = "127.0.0.1", port: int = 0) -> Service:
    """Serve in a daemon thread on HOST:PORT (0: a free port). TOKEN None: a recording listener."""
    service = Service(url="")
    server = (_Six if ":" in host else ThreadingHTTPServer)((host, port), _handler(service, token, note))
    server.daemon_threads = True
    shown = f"[{host}]" if ":" in host else host
    service.url, service._server = f"http://{shown}:{server.server_address[1]}", server
    RUNNING[service.url] = service
    threading.Thread(target=server.serve_forever, daemon=True, name=f"weather-service-{service.url}").start()
    return service


if __name__ == "__main__":
    import os
    import time

    service = start(os.environ.get("UPSTREAM_TOKEN") or None)
    print(f"weather service on {service.url} (Ctrl+C stops)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
