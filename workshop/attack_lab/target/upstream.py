"""The upstream weather service: this server calls it with its own credential, UPSTREAM_TOKEN.

Challenge 3 (exploit_upstream_token.py): a credential goes only where it belongs.
"""

from __future__ import annotations

import os

import httpx

UPSTREAM_URL = os.environ.get("UPSTREAM_URL", "http://127.0.0.1:7001").rstrip("/")


async def fetch(url: str, token: str) -> dict:
    """GET URL from the weather service, with this server's credential."""
    # TODO(fix 3): exploit this first (exploit_upstream_token.py). Who chose URL, and where may
    #      this server's credential go? Decide before any request leaves, with the parser that sends it.
    async with httpx.AsyncClient(timeout=5.0, trust_env=False, follow_redirects=False) as client:
        response = await client.get(url, headers={"Authorization": f"Bearer {token}"})
    try:
        return response.json()
    except ValueError:
        return {"status": response.status_code}
