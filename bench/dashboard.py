"""The class dashboard under a room's load (issue 26): every student reports on every save.

The dashboard runs as `python -m dashboard serve` in its own process on a free loopback port, with a
key per simulated student; this process is the room: one page listening on /events (the instructor's
browser) and STUDENTS students, each posting a verdict summary on every save. Two rhythms:

- steady: each student saves every INTERVAL seconds, at its own moment (a busy room: far more often
  than a grading takes);
- burst: every student saves at the same instant (the instructor says "save now"), SAVES times.

Measured per report: the POST's latency (sent to answered), and the page update's (sent to the
verdict event arriving at the listening page). Targets: p99 of both under 100 ms on 2 cores.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from grader.harness import free_port
from grader.stages import ROOT, load_stages

TARGET_MS = 100.0
READY_SECONDS = 20.0


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))] if ordered else float("nan")


def summary_of(student_index: int, save: int) -> dict:
    stage = load_stages()[student_index % 4].id
    failing = (student_index + save) % 6  # 5: every check passes
    return {"stage": stage, "hints": {"register": save % 3},
            "checks": [{"check": f"check {n} of {stage}", "outcome": "passed" if n < failing or failing == 5 else (
                "failed" if n == failing else "blocked"), "score": 1.0 if n < failing else 0.0, "max_score": 1.0}
                for n in range(12)]}


class Room:
    def __init__(self, url: str, instructor: str, keys: list[str]) -> None:
        self.url, self.instructor, self.keys = url, instructor, keys
        self.waiting: dict[str, asyncio.Future] = {}
        self.post_ms: list[float] = []
        self.update_ms: list[float] = []

    async def listen(self, ready: asyncio.Event) -> None:
        async with httpx.AsyncClient(timeout=None) as client:
            async with client.stream("GET", f"{self.url}/events",
                                     headers={"Authorization": f"Bearer {self.instructor}"}) as stream:
                kind = None
                async for line in stream.aiter_lines():
                    if line.startswith("event: "):
                        kind = line[7:]
                        if kind == "snapshot":
                            ready.set()
                    elif line.startswith("data: ") and kind == "verdict":
                        arrived = time.perf_counter()
                        student = json.loads(line[6:])["student"]["student"]
                        future = self.waiting.pop(student, None)
                        if future is not None and not future.done():
                            future.set_result(arrived)

    async def report(self, client: httpx.AsyncClient, index: int, save: int) -> None:
        student = f"student{index:03}"
        arrived = asyncio.get_running_loop().create_future()
        self.waiting[student] = arrived
        sent = time.perf_counter()
        answer = await client.post(f"{self.url}/api/verdicts", json=summary_of(index, save),
                                   headers={"Authorization": f"Bearer {self.keys[index]}"})
        answered = time.perf_counter()
        if answer.status_code != 202:
            raise RuntimeError(f"{student}'s report was refused: {answer.status_code} {answer.text[:200]}")
        self.post_ms.append(1000 * (answered - sent))
        self.update_ms.append(1000 * (await asyncio.wait_for(arrived, 10) - sent))

    async def steady(self, students: int, saves: int, interval: float) -> None:
        async def student(client, index):
            await asyncio.sleep(random.uniform(0, interval))
            for save in range(saves):
                started = time.perf_counter()
                await self.report(client, index, save)
                await asyncio.sleep(max(0.0, interval - (time.perf_counter() - started)))

        async with client_for(students) as client:
            await asyncio.gather(*(student(client, index) for index in range(students)))

    async def burst(self, students: int, saves: int) -> None:
        async with client_for(students) as client:
            for save in range(saves):
                await asyncio.gather(*(self.report(client, index, save) for index in range(students)))
                await asyncio.sleep(0.5)


def client_for(students: int) -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=10, limits=httpx.Limits(max_connections=students + 10,
                                                             max_keepalive_connections=students + 10))


async def measure(room: Room, rhythm: str, students: int, saves: int, interval: float) -> dict:
    room.post_ms, room.update_ms = [], []
    ready = asyncio.Event()
    listener = asyncio.create_task(room.listen(ready))
    await asyncio.wait_for(ready.wait(), 10)
    try:
        if rhythm == "steady":
            await room.steady(students, saves, interval)
        else:
            await room.burst(students, saves)
    finally:
        listener.cancel()
    return {"rhythm": rhythm, "reports": len(room.post_ms),
            **{f"post_p{p}": percentile(room.post_ms, p / 100) for p in (50, 99)},
            **{f"update_p{p}": percentile(room.update_ms, p / 100) for p in (50, 99)},
            "post_max": max(room.post_ms), "update_max": max(room.update_ms)}


def start_dashboard(folder: Path, students: int) -> tuple[subprocess.Popen, Room]:
    from dashboard.keys import KeyStore

    store = KeyStore(folder)
    instructor = store.instructor_key()
    keys = [store.issue(f"student{index:03}")[1] for index in range(students)]
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "dashboard", "--dir", str(folder), "serve", "--port", str(port),
                               "--report-limit", "100000/minute"], cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return server, Room(url, instructor, keys)
        except httpx.HTTPError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError(f"the dashboard did not start: {server.communicate()[1][-2000:]}")


def run(students: int = 100, saves: int = 5, interval: float = 2.0) -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as folder:
        server, room = start_dashboard(Path(folder), students)
        try:
            return [asyncio.run(measure(room, rhythm, students, saves, interval)) for rhythm in ("steady", "burst")]
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def verdicts(rows: list[dict]) -> list[str]:
    lines = []
    for row in rows:
        ok = row["post_p99"] < TARGET_MS and row["update_p99"] < TARGET_MS
        lines.append(f"{row['rhythm']}: p99 of a report {row['post_p99']:.1f} ms, of a page update "
                     f"{row['update_p99']:.1f} ms: {'within' if ok else 'OVER'} the target (< {TARGET_MS:g} ms "
                     f"each, on {os.cpu_count()} cores)")
    return lines
