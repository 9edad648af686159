"""Instructor demo: the stage-04 weather server over HTTPS, with a local certificate authority.

    .venv/bin/python -m course.tls_demo

What it shows, on loopback only:
1. a throw-away CA (trustme) signs a certificate for 127.0.0.1 and localhost;
2. the reference weather server (solutions/04-pure-asgi) serves it with uvicorn's --ssl-* options;
3. the stage's own client.py, told to trust that CA (SSL_CERT_FILE), gets the forecast over https://;
4. without that trust, the TLS handshake fails before any request (and so the key) is sent;
5. a plain http:// request to the TLS port gets no answer.

This is instructor tooling, not student runtime: nothing in exercises/ or solutions/ imports it.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import trustme

from grader.harness import child_env, free_port, run_python, uvicorn_command
from grader.stages import ROOT, stage_by_id

STAGE = stage_by_id("04-pure-asgi")
FOLDER = ROOT / "solutions" / STAGE.id
START_TIMEOUT = 30.0


@dataclass
class TlsFiles:
    ca: Path  # the CA certificate a client must trust
    cert: Path  # the server's certificate chain
    key: Path  # the server's private key


def make_certificates(folder: Path) -> TlsFiles:
    """A local CA and a server certificate it signed, for the names a loopback client uses."""
    authority = trustme.CA()
    issued = authority.issue_cert("127.0.0.1", "localhost")
    files = TlsFiles(folder / "ca.pem", folder / "server-cert.pem", folder / "server-key.pem")
    authority.cert_pem.write_to_path(str(files.ca))
    issued.private_key_pem.write_to_path(str(files.key))
    for number, blob in enumerate(issued.cert_chain_pems):
        blob.write_to_path(str(files.cert), append=number > 0)
    return files


class TlsServer:
    """uvicorn serving the weather server over HTTPS in its own process group, stopped for good by stop()."""

    def __init__(self, files: TlsFiles, api_key: str) -> None:
        self.port = free_port()
        self.log = Path(tempfile.mkstemp(prefix="tls-demo-server-", suffix=".log")[1])
        command = [*uvicorn_command(STAGE.app, self.port),
                   "--ssl-certfile", str(files.cert), "--ssl-keyfile", str(files.key)]
        with self.log.open("wb") as output:
            self.process = subprocess.Popen(command, cwd=FOLDER, env=child_env({"API_KEY": api_key}),
                                            stdout=output, stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the TLS server exited:\n{self.log.read_text(errors='replace')}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the TLS server did not start listening in time")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.unlink(missing_ok=True)


def health(url: str, verify: ssl.SSLContext | bool = True) -> str:
    """GET /health; what came back, or why nothing did, in one line."""
    try:
        response = httpx.get(url + "/health", verify=verify, timeout=5)
        return f"{response.status_code} {response.text}"
    except httpx.HTTPError as error:
        return f"no answer: {type(error).__name__}: {error}"


def run_client(url: str, api_key: str, ca: Path | None) -> str:
    """The stage's client.py against URL; with CA, it trusts that CA (SSL_CERT_FILE) and nothing else."""
    env = {"MCP_SERVER_URL": url + STAGE.endpoint, "API_KEY": api_key}
    if ca is not None:
        env["SSL_CERT_FILE"] = str(ca)
    finished = run_python(FOLDER, [STAGE.client], env=env, timeout=90, label="tls-client")
    return finished.output.replace(api_key, "<the key>").strip()


def main() -> int:
    api_key = secrets.token_urlsafe(32)  # fresh, never printed
    with tempfile.TemporaryDirectory(prefix="tls-demo-") as folder:
        files = make_certificates(Path(folder))
        server = TlsServer(files, api_key)
        try:
            server.wait_ready()
            print(f"The weather server (solutions/{STAGE.id}) serves {server.url}{STAGE.endpoint}, "
                  "with a certificate from a local CA.\n")
            trusting = ssl.create_default_context(cafile=str(files.ca))
            print("1. GET /health, trusting the local CA:\n   " + health(server.url, trusting))
            print("\n2. client.py with SSL_CERT_FILE=<the local CA>:")
            print("   " + run_client(server.url, api_key, files.ca).replace("\n", "\n   "))
            print("\n3. GET /health trusting only the system's CAs: the handshake fails, nothing is sent:\n   "
                  + health(server.url))
            print("\n4. client.py trusting only the system's CAs (it refuses the server before it sends the key):")
            print("   " + run_client(server.url, api_key, None).replace("\n", "\n   "))
            print("\n5. GET /health over plain http:// to the TLS port:\n   "
                  + health(server.url.replace("https://", "http://")))
        finally:
            server.stop()
    print("\nserver stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
