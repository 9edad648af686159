"""A class dashboard for the tests: on 127.0.0.1, a free port, its own folder, students with keys."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import uvicorn

from dashboard.app import create_app
from dashboard.keys import KeyStore
from grader.harness import free_port

READY_DEADLINE = 10.0  # seconds for the server to answer /healthz


@dataclass
class Dashboard:
    folder: Path
    url: str
    instructor_key: str
    student_keys: dict[str, str] = field(default_factory=dict)
    server: uvicorn.Server | None = None
    thread: threading.Thread | None = None

    @property
    def keys(self) -> KeyStore:
        return KeyStore(self.folder)

    def audit(self) -> list[dict]:
        from dashboard.audit import AuditLog

        return AuditLog(self.folder / "audit.jsonl").lines()

    def post(self, student: str, verdict: dict, *, key: str | None = None, headers: dict | None = None,
             client: httpx.Client | None = None) -> httpx.Response:
        sent = {"Authorization": f"Bearer {key or self.student_keys[student]}", **(headers or {})}
        return (client or httpx).post(f"{self.url}/api/verdicts", json=verdict, headers=sent, timeout=5)

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
            self.thread.join(timeout=10)


def verdict(stage: str = "01-middleware", failing: int | None = 1, checks: int = 5, hints: dict | None = None,
            names: list[str] | None = None) -> dict:
    """A summary of STAGE with CHECKS checks, the one at index FAILING failed (None: all pass)."""
    names = names or [f"check {index}" for index in range(checks)]
    return {"stage": stage, "hints": hints or {},
            "checks": [{"check": name, "outcome": "failed" if index == failing else
                        ("blocked" if failing is not None and index > failing else "passed"),
                        "score": 0 if failing is not None and index >= failing else 1.0, "max_score": 1.0}
                       for index, name in enumerate(names)]}


def start(folder: Path, students: list[str], **options) -> Dashboard:
    store = KeyStore(folder)
    instructor = store.instructor_key()
    keys = {student: store.issue(student)[1] for student in students}
    port = free_port()
    config = uvicorn.Config(create_app(folder, **options), host="127.0.0.1", port=port, log_level="warning",
                            timeout_graceful_shutdown=1, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="dashboard", daemon=True)
    thread.start()
    running = Dashboard(folder, f"http://127.0.0.1:{port}", instructor, keys, server, thread)
    deadline = time.monotonic() + READY_DEADLINE
    while True:
        try:
            if httpx.get(f"{running.url}/healthz", timeout=1).status_code == 200:
                return running
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or not thread.is_alive():
            running.stop()
            raise RuntimeError(f"the dashboard did not answer on {running.url} within {READY_DEADLINE} s")
        time.sleep(0.05)


def shown(response: httpx.Response) -> str:
    """A response as a failing test prints it: status, headers, the start of the body."""
    return f"{response.status_code} {dict(response.headers)}\n{response.text[:2000]}"


def instructor(board: Dashboard) -> dict:
    """The headers of the instructor's own key."""
    return {"Authorization": f"Bearer {board.instructor_key}"}
