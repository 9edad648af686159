"""Manage the server's API keys from the command line.

    python -m keys issue --client alice --tools get_forecast [--expires-in 90d]
    python -m keys list
    python -m keys rotate KEY_ID [--grace 1d] [--expires-in 90d]
    python -m keys revoke KEY_ID

KEYS_DB names the database file (default keys.db); KEY_PEPPER must be the
server's. `issue` and `rotate` print the new key once: only its hash is kept,
so nobody, not even this tool, can show it again. Run it in the stage folder.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from datetime import datetime, timezone

from dotenv import load_dotenv

from key_store import KeyRecord, KeyStore

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text: str) -> float:
    """'90d', '12h', '30m', '10s' (or plain seconds) as seconds."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd]?)", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 90d, 12h, 30m or 10s")
    return float(match[1]) * UNITS[match[2] or "s"]


def tool_list(text: str) -> list[str]:
    tools = [name.strip() for name in text.split(",") if name.strip()]
    if not tools:
        raise argparse.ArgumentTypeError("name at least one tool (or * for every tool)")
    return tools


def when(moment: float | None) -> str:
    if moment is None:
        return "-"
    return datetime.fromtimestamp(moment, timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def show_new_key(record: KeyRecord, key: str) -> None:
    expires = f", expires {when(record.expires_at)}" if record.expires_at else ", no expiry"
    print(f"key id {record.key_id} for {record.client} (tools: {', '.join(record.tools)}{expires})")
    print(key)
    print("Store this key now: it is shown once, and only its hash is kept.", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    load_dotenv()  # a .env next to the server may hold KEYS_DB and KEY_PEPPER
    parser = argparse.ArgumentParser(prog="python -m keys", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    issue = commands.add_parser("issue", help="issue a key for a client and print it once")
    issue.add_argument("--client", required=True, help="who the key is for (shown in logs and to the tools)")
    issue.add_argument("--tools", required=True, type=tool_list, help="comma-separated tool names, or * for all")
    issue.add_argument("--expires-in", type=duration, help="e.g. 90d; default: no expiry")
    commands.add_parser("list", help="every key: id, client, tools, status (never a secret)")
    rotate = commands.add_parser("rotate", help="issue a successor; the old key stays valid for the grace period")
    rotate.add_argument("key_id")
    rotate.add_argument("--grace", type=duration, default=duration("1d"),
                        help="how long the old key keeps working (default 1d; 0 ends it now)")
    rotate.add_argument("--expires-in", type=duration, help="the successor's lifetime; default: no expiry")
    revoke = commands.add_parser("revoke", help="refuse a key from the next request on")
    revoke.add_argument("key_id")
    options = parser.parse_args(argv)

    store = KeyStore.from_env(need_pepper=options.command in ("issue", "rotate"))
    expires_in = getattr(options, "expires_in", None)
    expires_at = time.time() + expires_in if expires_in is not None else None
    try:
        if options.command == "issue":
            show_new_key(*store.issue(options.client, options.tools, expires_at))
        elif options.command == "rotate":
            record, key = store.rotate(options.key_id, options.grace, expires_at)
            show_new_key(record, key)
            old = store.get(options.key_id)
            print(f"{options.key_id} stays valid until {when(old.expires_at)}." if old.status() == "active"
                  else f"{options.key_id} no longer works: it was rotated with no grace period.")
        elif options.command == "revoke":
            record = store.revoke(options.key_id)
            print(f"revoked {record.key_id} ({record.client}) at {when(record.revoked_at)}")
        else:
            print(f"{'key id':<12}  {'client':<16}  {'status':<7}  {'uses':>5}  {'expires':<20}  tools")
            for record in store.all():
                print(f"{record.key_id:<12}  {record.client:<16}  {record.status():<7}  {record.uses:>5}  "
                      f"{when(record.expires_at):<20}  {','.join(record.tools)}")
    except (KeyError, ValueError) as error:
        print(error.args[0] if error.args else error, file=sys.stderr)
        return 1
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
