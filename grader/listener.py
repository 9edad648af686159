"""A loopback listener that records what arrives: where a client sends its key when it was told otherwise."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager


@contextmanager
def listening_on(port: int, wait: float = 60.0):
    """A Listener on PORT, or None when another program holds the port.

    Graders on one machine (a class graded in parallel, the test suite) take turns
    through a lock, so they never make each other's port look busy. The lock is an
    abstract Unix socket: no file to leave behind, and gone when its holder dies.
    """
    lock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    deadline = time.monotonic() + wait
    try:
        while True:
            try:
                lock.bind(f"\0secure-mcp-grader-port-{port}")
                break
            except OSError:
                if time.monotonic() > deadline:
                    yield None
                    return
                time.sleep(0.1)
        try:
            listener = Listener(port)
        except OSError:
            yield None
            return
        try:
            yield listener
        finally:
            listener.close()
    finally:
        lock.close()


class Listener:
    """Accepts connections on 127.0.0.1:PORT and keeps the first bytes of each request."""

    def __init__(self, port: int) -> None:
        self.port, self.received = port, []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))  # OSError when the port is busy
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                connection, _ = self.sock.accept()
            except OSError:
                continue
            with connection:
                connection.settimeout(0.5)
                try:
                    self.received.append(connection.recv(65536))
                    connection.sendall(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                except OSError:
                    pass

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=2)
        self.sock.close()

    def __enter__(self) -> "Listener":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def port_holder(port: int) -> str:
    """Which program listens on 127.0.0.1:PORT, in words ("python -m uvicorn main:app (pid 4242)")."""
    from grader import processes

    holders = processes.listening_on(port)
    return processes.describe(holders[0]) if holders else "another program"
