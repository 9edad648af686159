"""Who holds which key: the key a request presents, and the principal it stands for.

Challenge 1 (exploit_published_key.py): a key anyone can read is no key.
"""

from __future__ import annotations

import hmac

# TODO(fix 1): exploit this file first (exploit_published_key.py), then close the hole: the
#      server must accept only the keys it was started with, and show nobody a working key.
DEMO_KEY = "lab-demo-key-2026"  # so that readers of the docs can try the server at once
PUBLIC_HELP = {"try_it": f"curl -H \"X-API-Key: {DEMO_KEY}\" -X POST http://127.0.0.1:7000/mcp ..."}


def key_table(api_key: str, admin_key: str) -> list[tuple[bytes, str]]:
    """Every key this server accepts, and whom each one stands for."""
    # TODO(fix 1): which of these keys did nobody hand out privately?
    return [(api_key.encode(), "student"), (admin_key.encode(), "admin"), (DEMO_KEY.encode(), "admin")]


def principal_for(presented: bytes, table: list[tuple[bytes, str]]) -> str | None:
    """The principal whose key was presented, or None. Every key is compared, in constant time."""
    found = None
    for key, principal in table:
        if hmac.compare_digest(presented, key):
            found = principal
    return found
