"""Who holds which key: the key a request presents, and the principal it stands for.

Challenge 1 (exploit_published_key.py): a key anyone can read is no key.
"""

from __future__ import annotations

import hmac

# What the public page (/) shows every visitor about using this server: how, never with what.
PUBLIC_HELP = {"try_it": "curl -H \"X-API-Key: $API_KEY\" -X POST http://127.0.0.1:7000/mcp ..."}


def key_table(api_key: str, admin_key: str) -> list[tuple[bytes, str]]:
    """Every key this server accepts, and whom each one stands for."""
    # Only keys handed out privately, each to one principal: nothing written in code, docs or a page.
    return [(api_key.encode(), "student"), (admin_key.encode(), "admin")]


def principal_for(presented: bytes, table: list[tuple[bytes, str]]) -> str | None:
    """The principal whose key was presented, or None. Every key is compared, in constant time."""
    found = None
    for key, principal in table:
        if hmac.compare_digest(presented, key):
            found = principal
    return found
