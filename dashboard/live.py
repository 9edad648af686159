"""Live updates: server-sent events to every open page (EventSource in the browser; no WebSocket needed,
the page only listens). Each page gets the whole room when it connects, then one event per verdict.

    event: snapshot            data: {"now": ..., "students": [row, ...], "heat": [...]}
    event: verdict             data: {"now": ..., "student": row, "heat": [...]}

A page that stops reading is dropped rather than allowed to hold the server's memory: each has a small
queue (QUEUE events, MAX_LAG_BYTES bytes), and a full queue ends its stream (the browser's EventSource
reconnects and gets a fresh snapshot).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable

KEEPALIVE_SECONDS = 15.0  # a comment line now and then: proxies and browsers keep the stream open
QUEUE = 1024  # events a page may lag behind (a burst of a whole class is a few hundred)
# ... and bytes: an event carries the whole heat map, and one student's 7 stages of 200 long check names make
# it 300 KB, so 1024 of them held 300 MB for one page that stopped reading (a laptop asleep, a phone).
MAX_LAG_BYTES = 16 * 1024 * 1024
CLOSE = object()


def event(kind: str, data: dict) -> str:
    # json.dumps never writes a raw newline, so one data: line carries the whole event.
    return f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


class Broadcaster:
    def __init__(self) -> None:
        self.queues: dict[asyncio.Queue, int] = {}  # each page's queue, and the bytes waiting in it

    def publish(self, kind: str, data: dict) -> None:
        text = event(kind, data)
        for queue in list(self.queues):
            lag = self.queues[queue] + len(text)
            try:
                if lag > MAX_LAG_BYTES:
                    raise asyncio.QueueFull
                queue.put_nowait(text)
                self.queues[queue] = lag
            except asyncio.QueueFull:
                self.queues.pop(queue, None)
                if queue.full():
                    queue.get_nowait()
                queue.put_nowait(CLOSE)

    def close(self) -> None:
        for queue in list(self.queues):
            while not queue.empty():
                queue.get_nowait()
            queue.put_nowait(CLOSE)
        self.queues.clear()

    async def stream(self, first: Callable[[], str], allowed: Callable[[], bool] = lambda: True
                     ) -> AsyncIterator[str]:
        """FIRST, then every event, while ALLOWED: asked again before each one, so a page whose session has
        ended (logged out, expired, a new instructor key) gets nothing more and its stream ends."""
        queue: asyncio.Queue = asyncio.Queue(QUEUE)
        self.queues[queue] = 0
        try:
            yield "retry: 1000\n" + first()
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
                    if item is not CLOSE and queue in self.queues:
                        self.queues[queue] -= len(item)
                except TimeoutError:
                    item = ": keep-alive\n\n"
                if item is CLOSE or not allowed():
                    return
                yield item
        finally:
            self.queues.pop(queue, None)
