"""Load a loopback server with one request over and over: wrk when installed, else a small asyncio loop.

    run_load("127.0.0.1", port, request, connections=16, seconds=3.0) -> Load

wrk (Debian/Ubuntu: `apt-get install wrk`, macOS: `brew install wrk`) is a
C load generator: it costs the server's CPU little, so what it measures is the
server. Without it, the fallback is an asyncio loop in this process that keeps
CONNECTIONS keep-alive connections busy with pre-built request bytes: slower
(Python parses every answer), so its numbers are lower and its ratios a little
flatter, and the output says which one ran. Both stop after SECONDS and after
MAX_REQUESTS, whichever comes first, and talk to 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

MAX_REQUESTS = 2_000_000
FALLBACK = "asyncio fallback (install wrk for sharper numbers)"


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: tuple[tuple[str, str], ...] = ()
    body: dict | None = None

    def payload(self, host: str, port: int) -> bytes:
        body = json.dumps(self.body).encode() if self.body is not None else b""
        lines = [f"{self.method} {self.path} HTTP/1.1", f"Host: {host}:{port}", "Connection: keep-alive",
                 *(f"{name}: {value}" for name, value in self.headers)]
        if self.body is not None:
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@dataclass
class Load:
    tool: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int  # answers other than 2xx, and broken connections

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def wrk_path() -> str | None:
    return shutil.which("wrk")


def run_load(host: str, port: int, request: Request, *, connections: int = 16, seconds: float = 3.0,
             use_wrk: bool = True) -> Load:
    assert host in ("127.0.0.1", "localhost", "::1"), "loopback only"
    if use_wrk and wrk_path():
        return _wrk(host, port, request, connections, seconds)
    return asyncio.run(_asyncio_load(host, port, request, connections, seconds))


# -- wrk ------------------------------------------------------------------------------------------

# wrk runs this Lua script: the request to repeat, and a summary line we can parse at the end.
WRK_SCRIPT = """
wrk.method = {method}
wrk.body = {body}
{headers}
done = function(summary, latency, requests)
  local e = summary.errors
  local bad = e.connect + e.read + e.write + e.status + e.timeout
  io.write(string.format("BENCH %d %d %d %.1f %.1f\\n", summary.requests, summary.duration, bad,
                         latency:percentile(50), latency:percentile(99)))
end
"""


def _lua(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid Lua string literal for ASCII text


def _wrk(host: str, port: int, request: Request, connections: int, seconds: float) -> Load:
    body = json.dumps(request.body) if request.body is not None else ""
    headers = list(request.headers) + ([("Content-Type", "application/json")] if request.body is not None else [])
    script = WRK_SCRIPT.format(method=_lua(request.method), body=_lua(body) if body else "nil",
                               headers="\n".join(f"wrk.headers[{_lua(n)}] = {_lua(v)}" for n, v in headers))
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        # One wrk thread is plenty for one Python server, and leaves the other core to it.
        done = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "5s",
                               "-s", handle.name, f"http://{host}:{port}{request.path}"],
                              capture_output=True, text=True, timeout=seconds + 30)
    finally:
        Path(handle.name).unlink(missing_ok=True)
    line = next((line for line in done.stdout.splitlines() if line.startswith("BENCH ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary:\n{done.stdout}\n{done.stderr}")
    count, micros, bad, p50, p99 = line.split()[1:]
    return Load("wrk", int(count), int(micros) / 1e6, float(p50) / 1000, float(p99) / 1000, int(bad))


# -- the asyncio fallback ------------------------------------------------------------------------------


async def _read_answer(reader: asyncio.StreamReader) -> int:
    """Read one HTTP/1.1 answer (Content-Length or chunked); return its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    fields = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    if "content-length" in fields:
        await reader.readexactly(int(fields["content-length"]))
    elif fields.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status


async def _connection(host: str, port: int, payload: bytes, deadline: float, latencies: list[float],
                      errors: list[int], budget: list[int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline and budget[0] > 0:
            budget[0] -= 1
            sent = time.perf_counter()
            writer.write(payload)
            status = await asyncio.wait_for(_read_answer(reader), timeout=5.0)
            latencies.append(time.perf_counter() - sent)
            if not 200 <= status < 300:
                errors.append(status)
    except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError):
        errors.append(0)
    finally:
        writer.close()


async def _asyncio_load(host: str, port: int, request: Request, connections: int, seconds: float) -> Load:
    payload = request.payload(host, port)
    latencies: list[float] = []
    errors: list[int] = []
    budget = [MAX_REQUESTS]
    started = time.perf_counter()
    await asyncio.gather(*(_connection(host, port, payload, started + seconds, latencies, errors, budget)
                           for _ in range(connections)))
    took = time.perf_counter() - started
    if not latencies:
        return Load(FALLBACK, 0, took, float("nan"), float("nan"), len(errors))
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return Load(FALLBACK, len(latencies), took, cuts[49] * 1000, cuts[98] * 1000, len(errors))
