"""The National Weather Service API client used by stage 04, offline by default.

Offline (the default) the client's requests never leave the process: an
httpx.MockTransport answers them from the recorded responses in
workshop/recordings/nws/. The tools still build real URLs and parse real-shaped
JSON, so the code is the same code that talks to the real service.

    NWS_LIVE=1          call https://api.weather.gov for real
    NWS_API_BASE=URL    another base URL (a mirror, a local stub)
    NWS_RECORDING_NOTE  a note added to every recorded forecast period (the grader
                        sets a fresh one per run, so a pasted forecast never matches)
    NWS_REQUEST_LOG=F   offline: append every request the recorded NWS receives (method,
                        URL, all headers) to file F as one JSON line, so a test can see
                        what reaches the upstream API (stage 06: no token passthrough)

Every request the client sends must go to NWS_API_BASE's origin (scheme, host and
port). The forecast tool follows a URL the upstream answer gives it; an answer
that points anywhere else (a compromised mirror, a spoofed response) would turn
the tool into a request forger (SSRF) inside your network. Such a request is
never sent: the tool call fails with a message that names the refused origin.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import httpx
from mcp.server.mcpserver.exceptions import ToolError

NWS_API_BASE = os.environ.get("NWS_API_BASE", "https://api.weather.gov")
USER_AGENT = "secure-mcp-workshop/1.0 (weather lesson)"
RECORDINGS = Path(__file__).parent / "recordings" / "nws"

_ALERTS = re.compile(r"/alerts/active/area/(?P<state>[A-Za-z]{2})$")
_POINTS = re.compile(r"/points/(?P<lat>-?[\d.]+),(?P<lon>-?[\d.]+)$")
_FORECAST = re.compile(r"/gridpoints/(?P<office>[A-Z]{3})/(?P<x>\d+),(?P<y>\d+)/forecast$")


class ForeignUpstream(ToolError):
    """A request to another origin than the NWS API's: refused before it is sent.

    A ToolError, so the MCP client gets this message as the tool's error (a plain
    exception would reach it only as "Error executing tool ..."), and so the
    seed's make_nws_request, which turns HTTP and JSON failures into None, does not swallow it.
    """


def origin(url: str | httpx.URL) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port filled in: what "the same origin" compares."""
    parsed = httpx.URL(str(url))
    default = {"http": 80, "https": 443}.get(parsed.scheme)
    return parsed.scheme, parsed.host.lower(), parsed.port or default


async def _only_the_nws(request: httpx.Request) -> None:
    """httpx request hook: refuse any URL outside NWS_API_BASE's origin, before it is sent."""
    if origin(request.url) != origin(NWS_API_BASE):
        where = f"{request.url.scheme}://{request.url.netloc.decode('ascii', 'replace')}"
        raise ForeignUpstream(f"Refused to fetch {where}: the weather tools only call the NWS API at "
                              f"{NWS_API_BASE}, and the upstream answer pointed elsewhere.")


def is_live() -> bool:
    return os.environ.get("NWS_LIVE", "") == "1"


def _not_found(request: httpx.Request) -> httpx.Response:
    problem = {"type": "https://api.weather.gov/problems/NotFound", "title": "Not Found", "status": 404,
               "detail": f"No recorded response for {request.url.path} (offline mode; set NWS_LIVE=1 for the real API)"}
    return httpx.Response(404, json=problem, headers={"Content-Type": "application/problem+json"})


def _recorded(name: str, request: httpx.Request) -> httpx.Response:
    path = RECORDINGS / name
    if not path.is_file():
        return _not_found(request)
    data = json.loads(path.read_text())
    note = os.environ.get("NWS_RECORDING_NOTE", "")
    if note and name.startswith("forecast-"):
        for period in data["properties"]["periods"]:
            period["detailedForecast"] += f" {note}"
    return httpx.Response(200, json=data, headers={"Content-Type": "application/geo+json"})


def _nearest_point(lat: float, lon: float) -> str | None:
    """The recorded point within about a kilometre of (lat, lon), however the numbers were written."""
    for path in RECORDINGS.glob("points-*.json"):
        rec_lat, rec_lon = (float(part) for part in path.stem.removeprefix("points-").split(","))
        if abs(rec_lat - lat) < 0.01 and abs(rec_lon - lon) < 0.01:
            return path.name
    return None


def _log_request(request: httpx.Request) -> None:
    """What the upstream saw, for tests: a JSON line in the file NWS_REQUEST_LOG names (if it does)."""
    log = os.environ.get("NWS_REQUEST_LOG", "")
    if log:
        entry = {"method": request.method, "url": str(request.url), "headers": list(request.headers.multi_items())}
        with open(log, "a", encoding="utf-8") as out:
            out.write(json.dumps(entry) + "\n")


def answer_from_recordings(request: httpx.Request) -> httpx.Response:
    """The MockTransport handler: route a request to its recorded response."""
    _log_request(request)
    path = request.url.path
    if match := _ALERTS.search(path):
        return _recorded(f"alerts-{match['state'].upper()}.json", request)
    if match := _POINTS.search(path):
        name = _nearest_point(float(match["lat"]), float(match["lon"]))
        return _recorded(name, request) if name else _not_found(request)
    if match := _FORECAST.search(path):
        return _recorded(f"forecast-{match['office']}-{match['x']},{match['y']}.json", request)
    return _not_found(request)


def nws_client(timeout: float = 30.0) -> httpx.AsyncClient:
    """An AsyncClient for the NWS API: the real network with NWS_LIVE=1, the recordings otherwise."""
    headers = {"User-Agent": USER_AGENT, "Accept": "application/geo+json"}
    # Redirects are not followed (httpx's default): a redirect is another URL the upstream picks.
    hooks = {"request": [_only_the_nws]}
    if is_live():
        return httpx.AsyncClient(headers=headers, timeout=timeout, event_hooks=hooks)
    return httpx.AsyncClient(headers=headers, timeout=timeout, event_hooks=hooks,
                             transport=httpx.MockTransport(answer_from_recordings))
