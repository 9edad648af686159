"""Load a loopback server with one request over and over: wrk when installed, else a headless locust.

    run_load("127.0.0.1", port, request, connections=16, seconds=3.0) -> Load

wrk (Debian/Ubuntu: `apt-get install wrk`, macOS: `brew install wrk`) is a
C load generator: it costs the server's CPU little, so what it measures is the
server. Without it, locust (a pinned dependency) runs headless in a process of
its own: FastHttpUser users, one keep-alive connection each, as many as
CONNECTIONS. locust is Python: on a small machine it competes with the server
for the CPU, so its numbers are lower and its ratios flatter, and the output
says which tool ran, with its version. Both talk to 127.0.0.1 only and stop
after SECONDS of load; locust also stops sending after MAX_REQUESTS.

locust needs a second or two to start (it imports gevent and patches the
standard library, in its own process, never in this one), and its users start
over about a second: it times and counts only the requests answered once every
user is running, so neither start-up nor ramp is in its numbers.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

MAX_REQUESTS = 2_000_000
RAMP_SECONDS = 1.0  # locust starts its users at CONNECTIONS per second: all of them within a second


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: tuple[tuple[str, str], ...] = ()
    body: dict | None = None


@dataclass
class Load:
    tool: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int  # answers 400 and over, and broken connections or timeouts

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def wrk_path() -> str | None:
    return shutil.which("wrk")


def load_tool(use_wrk: bool = True) -> str:
    """The load generator run_load uses, with its version: "wrk 4.1.0" or "locust 2.47.0"."""
    if use_wrk and wrk_path():
        said = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=10)
        first = (said.stdout + said.stderr).split()
        return " ".join(first[:2]) if first[:1] == ["wrk"] else "wrk"
    return f"locust {metadata.version('locust')}"


def run_load(host: str, port: int, request: Request, *, connections: int = 16, seconds: float = 3.0,
             use_wrk: bool = True) -> Load:
    assert host in ("127.0.0.1", "localhost", "::1"), "loopback only"
    if use_wrk and wrk_path():
        return _wrk(host, port, request, connections, seconds)
    return _locust(host, port, request, connections, seconds)


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


# -- locust --------------------------------------------------------------------------------------------

# locust runs this file in its own process. Each user repeats the one request on its keep-alive
# connection; the listeners count and time only what is answered between "every user is running"
# and "stopping", with the exact latencies (locust's own percentiles are rounded to whole milliseconds,
# too coarse for loopback), and write them as JSON where the benchmark reads them.
LOCUSTFILE = """
import json, os, time

from locust import FastHttpUser, constant, events, task
from locust.exception import StopUser

SPEC = json.loads(open(os.environ["BENCH_LOAD_SPEC"]).read())
BODY = SPEC["body"].encode() if SPEC["body"] is not None else None
HEADERS = dict(SPEC["headers"])
window = {"start": None, "end": None}
latencies, failures, sent = [], [0], [0]


class Bench(FastHttpUser):
    wait_time = constant(0)
    network_timeout = connection_timeout = 5.0  # as wrk's --timeout: a hung request counts as a failure

    @task
    def repeat(self):
        sent[0] += 1
        if sent[0] > SPEC["max_requests"]:
            raise StopUser()
        self.client.request(SPEC["method"], SPEC["path"], headers=HEADERS, data=BODY, name="bench")


@events.spawning_complete.add_listener
def every_user_runs(**kwargs):
    window["start"] = time.perf_counter()


@events.request.add_listener
def answered(response_time, exception, **kwargs):
    if window["start"] is not None and window["end"] is None:
        latencies.append(response_time)
        failures[0] += exception is not None


@events.test_stopping.add_listener
def stopping(**kwargs):
    window["end"] = time.perf_counter()


@events.quitting.add_listener
def report(**kwargs):
    start, end = window["start"], window["end"] or time.perf_counter()
    ranked = sorted(latencies)
    at = lambda share: ranked[min(len(ranked) - 1, int(share * len(ranked)))] if ranked else float("nan")
    with open(os.environ["BENCH_LOAD_OUT"], "w") as out:
        json.dump({"requests": len(ranked), "failures": failures[0],
                   "seconds": (end - start) if start is not None else 0.0,
                   "p50_ms": at(0.50), "p99_ms": at(0.99)}, out)
"""


def _locust(host: str, port: int, request: Request, connections: int, seconds: float) -> Load:
    tool = load_tool(use_wrk=False)
    with tempfile.TemporaryDirectory(prefix="bench-locust-") as scratch:
        folder = Path(scratch)
        spec = {"method": request.method, "path": request.path, "max_requests": MAX_REQUESTS,
                "headers": list(request.headers) + ([("Content-Type", "application/json")] if request.body is not None
                                                    else []),
                "body": json.dumps(request.body) if request.body is not None else None}
        (folder / "spec.json").write_text(json.dumps(spec))
        (folder / "locustfile.py").write_text(LOCUSTFILE)
        out = folder / "out.json"
        run_time = math.ceil(RAMP_SECONDS + seconds)
        # Users = connections, all started within RAMP_SECONDS; failures are counted, not an exit status.
        command = [sys.executable, "-m", "locust", "-f", str(folder / "locustfile.py"), "--headless",
                   "--host", f"http://{host}:{port}", "-u", str(connections), "-r", str(connections),
                   "-t", f"{run_time}s", "--stop-timeout", "0", "--only-summary", "--exit-code-on-error", "0",
                   "--loglevel", "WARNING"]
        done = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=run_time + 60,
                              env={**os.environ, "BENCH_LOAD_SPEC": str(folder / "spec.json"),
                                   "BENCH_LOAD_OUT": str(out)})
        if done.returncode != 0 or not out.exists():
            raise RuntimeError(f"{tool} exited {done.returncode} without its summary:\n{done.stdout[-2000:]}\n"
                               f"{done.stderr[-2000:]}")
        summary = json.loads(out.read_text())
    return Load(tool, summary["requests"], summary["seconds"], summary["p50_ms"], summary["p99_ms"],
                summary["failures"])
