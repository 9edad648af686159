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
over about a second. So run_loads gives one locust process several targets in
turn, and it times and counts only the requests answered once every user is
running, and not in the first SETTLE_SECONDS on each new target: neither
start-up, ramp nor new connections are in its numbers.
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
SETTLE_SECONDS = 0.25  # locust, after its users move to the next target: not measured (connections open)


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
    return run_loads(host, [(port, request)], connections=connections, seconds=seconds, use_wrk=use_wrk)[0]


def run_loads(host: str, targets: list[tuple[int, Request]], *, connections: int = 16, seconds: float = 3.0,
              use_wrk: bool = True) -> list[Load]:
    """Load each (port, request) in turn for SECONDS, back to back: one Load per target, in order.

    wrk runs once per target. locust runs once for them all (its start-up is paid once): its users
    move from one target to the next together, and each target's window opens SETTLE_SECONDS after
    they moved, so the connections it opens are not measured.
    """
    assert host in ("127.0.0.1", "localhost", "::1"), "loopback only"
    if use_wrk and wrk_path():
        return [_wrk(host, port, request, connections, seconds) for port, request in targets]
    return _locust(host, targets, connections, seconds)


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

# locust runs this file in its own process. Its users start together on the first target (the ramp:
# not measured), then all move from target to target on one clock: SETTLE seconds unmeasured (new
# connections open), then SECONDS measured. A request counts for a target when it was sent to that
# target and answered inside its window, as wrk counts what is answered within its run. Latencies are
# timed here, exactly (locust's own percentiles are rounded to whole milliseconds, too coarse for
# loopback), and written as JSON where the benchmark reads them.
LOCUSTFILE = """
import json, os, time

import gevent
from locust import FastHttpUser, constant, events, task
from locust.exception import StopUser

SPEC = json.loads(open(os.environ["BENCH_LOAD_SPEC"]).read())
SETTLE, SECONDS = SPEC["settle"], SPEC["seconds"]
TARGETS = SPEC["targets"]
for target in TARGETS:
    target.update(body=target["body"].encode() if target["body"] is not None else None, latencies=[], failures=0)
clock = {"start": None}
sent = [0]


def now():
    \"\"\"The target every user loads now, and whether its window is open; (None, False) once all are done.\"\"\"
    if clock["start"] is None:
        return TARGETS[0], False  # the ramp
    index, into = divmod(time.perf_counter() - clock["start"], SETTLE + SECONDS)
    if index >= len(TARGETS):
        return None, False
    return TARGETS[int(index)], into >= SETTLE


class Bench(FastHttpUser):
    wait_time = constant(0)
    network_timeout = connection_timeout = 5.0  # as wrk's --timeout: a hung request counts as a failure

    @task
    def repeat(self):
        target, _ = now()
        sent[0] += 1
        if target is None or sent[0] > SPEC["max_requests"]:
            raise StopUser()
        started = time.perf_counter()
        with self.client.request(target["method"], target["url"], headers=target["headers"], data=target["body"],
                                 catch_response=True) as response:
            failed = response.status_code == 0 or response.status_code >= 400  # as wrk counts errors
            response.success()  # counted here, not in locust's own statistics
        answered = time.perf_counter()
        still, open_ = now()
        if still is target and open_:
            target["latencies"].append((answered - started) * 1000)
            target["failures"] += failed


@events.init.add_listener
def keep(environment, **kwargs):
    clock["environment"] = environment


@events.spawning_complete.add_listener
def every_user_runs(**kwargs):
    clock["start"] = time.perf_counter()
    gevent.spawn_later(len(TARGETS) * (SETTLE + SECONDS) + 0.05, clock["environment"].runner.quit)


@events.quitting.add_listener
def report(**kwargs):
    summary = []
    for target in TARGETS:
        ranked = sorted(target["latencies"])
        at = lambda share: ranked[min(len(ranked) - 1, int(share * len(ranked)))] if ranked else float("nan")
        summary.append({"requests": len(ranked), "failures": target["failures"],
                        "seconds": SECONDS if clock["start"] is not None else 0.0,
                        "p50_ms": at(0.50), "p99_ms": at(0.99)})
    with open(os.environ["BENCH_LOAD_OUT"], "w") as out:
        json.dump(summary, out)
"""


def _locust(host: str, targets: list[tuple[int, Request]], connections: int, seconds: float) -> list[Load]:
    tool = load_tool(use_wrk=False)
    with tempfile.TemporaryDirectory(prefix="bench-locust-") as scratch:
        folder = Path(scratch)
        spec = {"settle": SETTLE_SECONDS, "seconds": seconds, "max_requests": MAX_REQUESTS, "targets": [
            {"url": f"http://{host}:{port}{request.path}", "method": request.method,
             "headers": dict(request.headers) | ({"Content-Type": "application/json"} if request.body is not None
                                                 else {}),
             "body": json.dumps(request.body) if request.body is not None else None}
            for port, request in targets]}
        (folder / "spec.json").write_text(json.dumps(spec))
        (folder / "locustfile.py").write_text(LOCUSTFILE)
        out = folder / "out.json"
        # Users = connections, all started within RAMP_SECONDS; the run ends itself after the last
        # window, and -t only bounds it in case it does not. Failures are counted, not an exit status.
        bound = math.ceil(RAMP_SECONDS + len(targets) * (SETTLE_SECONDS + seconds)) + 30
        command = [sys.executable, "-m", "locust", "-f", str(folder / "locustfile.py"), "--headless",
                   "--host", f"http://{host}:{targets[0][0]}", "-u", str(connections), "-r", str(connections),
                   "-t", f"{bound}s", "--stop-timeout", "0", "--only-summary", "--exit-code-on-error", "0",
                   "--loglevel", "WARNING"]
        done = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=bound + 30,
                              env={**os.environ, "BENCH_LOAD_SPEC": str(folder / "spec.json"),
                                   "BENCH_LOAD_OUT": str(out)})
        if done.returncode != 0 or not out.exists():
            raise RuntimeError(f"{tool} exited {done.returncode} without its summary:\n{done.stdout[-2000:]}\n"
                               f"{done.stderr[-2000:]}")
        summary = json.loads(out.read_text())
    return [Load(tool, run["requests"], run["seconds"], run["p50_ms"], run["p99_ms"], run["failures"])
            for run in summary]
