"""The instructor's command line.

    python -m dashboard serve [--host 0.0.0.0 --allow-host 192.168.1.20] [--port 8765]
    python -m dashboard keys issue alice [bob ...]     a key per student, shown once
    python -m dashboard keys list
    python -m dashboard keys revoke alice|KEY_ID
    python -m dashboard keys instructor --reset        a new instructor key (the old one stops working)

Everything lives in .dashboard/ (DASHBOARD_DIR, or --dir): keys.json (hashes only) and audit.jsonl,
both owner-only. The first `serve` creates the instructor key and prints it once.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path

from grader.stages import ROOT

from dashboard.keys import KeyStore

DEFAULT_DIR = ROOT / ".dashboard"
DEFAULT_PORT = 8765


def class_url(host: str, port: int, tls: bool = False) -> str:
    if host in ("0.0.0.0", "::"):
        host = lan_address()
    return f"{'https' if tls else 'http'}://{host}:{port}"


def lan_address() -> str:
    """The address other machines on the LAN reach this one at (no packet leaves: UDP connect only routes)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: never answered, only routed
            return probe.getsockname()[0]
        except OSError:
            return "127.0.0.1"


def serve(options: argparse.Namespace) -> int:
    import uvicorn

    from dashboard.app import create_app

    store = KeyStore(options.dir)
    key = store.instructor_key()
    hosts = list(options.allow_host)
    if options.host in ("0.0.0.0", "::"):
        hosts.append(lan_address())
    tls = bool(options.certfile)
    url = class_url(options.host, options.port, tls)
    if options.host not in ("127.0.0.1", "localhost", "::1") and not tls:
        print("Note: plain HTTP on the LAN: anyone on the network can read the keys and the page's session "
              "cookie as they pass. --certfile/--keyfile serve HTTPS (lessons/dashboard/README.md).")
    if key:
        print(f"Your instructor key (shown this once; only its hash is kept in {store.path}):\n\n    {key}\n\n"
              f"Open {url}/login and paste it. `python -m dashboard keys instructor --reset` makes a new one.")
    print(f"Class dashboard on {url} (students: CLASS_URL={url}); Ctrl+C stops it.", flush=True)
    app = create_app(options.dir, bind=options.host, hosts=hosts, report_limit=options.report_limit,
                     secure_cookie=tls)  # over HTTPS the session cookie is never sent in clear
    # Open pages hold a stream each: give them a second to end when asked to stop, then close them.
    uvicorn.run(app, host=options.host, port=options.port, log_level="warning", proxy_headers=False,
                timeout_graceful_shutdown=1, ssl_certfile=options.certfile, ssl_keyfile=options.keyfile)
    return 0


def keys(options: argparse.Namespace) -> int:
    store = KeyStore(options.dir)
    if options.action == "issue":
        url = options.url or class_url("127.0.0.1", DEFAULT_PORT)
        for student in options.names:
            try:
                key_id, key = store.issue(student)
            except ValueError as error:
                print(error, file=sys.stderr)
                return 2
            print(f"key id {key_id} for {student} (shown this once; hand it to {student} only):\n"
                  f"    CLASS_URL={url} CLASS_KEY={key}")
        return 0
    if options.action == "list":
        rows = store.records()
        print(f"{'key id':<14} {'student':<24} {'status':<8} issued")
        for row in rows:
            print(f"{row['key_id']:<14} {row['student']:<24} {'revoked' if row['revoked_at'] else 'active':<8} "
                  f"{row['issued_at']}")
        return 0
    if options.action == "revoke":
        status = 0
        for name in options.names:
            revoked = store.revoke(name)
            print(f"revoked {', '.join(revoked)}" if revoked else f"no active key for {name}")
            status = status or (0 if revoked else 1)
        return status
    key = store.instructor_key(reset=options.reset)
    if key is None:
        print("There is an instructor key already; --reset replaces it (and logs nothing out until restart).")
        return 1
    print(f"Your instructor key (shown this once):\n\n    {key}\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dashboard", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=Path(os.environ.get("DASHBOARD_DIR", DEFAULT_DIR)),
                        help="where the keys and the audit log live (default .dashboard/)")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="start the dashboard")
    run.add_argument("--host", default="127.0.0.1",
                     help="address to listen on (0.0.0.0: the LAN; its address is then allowed as Host)")
    run.add_argument("--port", type=int, default=DEFAULT_PORT)
    run.add_argument("--allow-host", action="append", default=[],
                     help="another name students reach this machine by (repeatable)")
    run.add_argument("--report-limit", default="60/minute", help="reports per student key (limits' notation)")
    run.add_argument("--certfile", help="serve HTTPS with this certificate (PEM), e.g. from a local CA")
    run.add_argument("--keyfile", help="the certificate's private key (PEM)")
    run.set_defaults(handler=serve)
    key_commands = commands.add_parser("keys", help="student keys: issue, list, revoke; the instructor key")
    key_commands.add_argument("action", choices=["issue", "list", "revoke", "instructor"])
    key_commands.add_argument("names", nargs="*", help="students to issue a key to; a student or key id to revoke")
    key_commands.add_argument("--url", help="the CLASS_URL to print with each key (default http://127.0.0.1:8765)")
    key_commands.add_argument("--reset", action="store_true", help="instructor: replace the instructor key")
    key_commands.set_defaults(handler=keys)
    options = parser.parse_args(argv)
    if options.command == "keys" and options.action in ("issue", "revoke") and not options.names:
        parser.error(f"keys {options.action} needs a student name")
    return options.handler(options)
